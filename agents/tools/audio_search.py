"""audio_search: find a voice in the voice library (by name or by description) and make it
the active voice. Changing the graph's state is done the LangGraph way: when a voice is
found the tool returns a `Command` that sets `voice` and carries the tool message."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, InjectedToolCallId, ToolException
from langgraph.types import Command

from agents.tools.base import Lazy, error_sayer, standard_tool, to_json
from model.policy import PreviousCall, VoiceSpec
from voices import VoiceLibrary

NAME = "audio_search"
DESCRIPTION = "Find a voice in the voice library to change how the assistant sounds."
EXAMPLES = [
    "switch to a cheerful young woman's voice", "use the voice called Ada",
    "speak like a calm older man", "change your voice to a deep male voice",
    "can you sound like a British narrator", "find a voice that sounds happy",
    "talk in a different voice",
]  # fmt: skip
CUES = [
    "voice", "voices", "sound like", "speak like", "talk like", "accent", "narrator", "speak as",
    "sound as",
]  # fmt: skip


def voice_spec_from_attrs(v: dict[str, Any]) -> VoiceSpec:
    """The active voice from a voice's flat attributes (a search hit, `voices show --json`)."""
    keep = ("gender", "age_band", "style", "description", "language", "tags")
    return VoiceSpec(
        voice_id=str(v.get("id")),
        name=v.get("name"),
        prompt_path=v.get("audio_path"),
        pitch_hz=v.get("median_f0_hz"),
        speaking_rate=v.get("speaking_rate"),
        attributes={k: v[k] for k in keep if v.get(k) is not None},
    )


def voice_hit_dict(hit: Any) -> dict[str, Any]:
    attrs = dict(getattr(hit, "attributes", {}) or {})
    return {"id": hit.id, "name": hit.name, "score": round(float(hit.score), 4), **attrs}


def open_library(voices_dir: Path) -> VoiceLibrary:
    return VoiceLibrary(voices_dir)


def make_audio_search(lib_ref: Lazy[VoiceLibrary], top_k: int = 3):
    """The tool function over one library (given open, or opened on first use)."""

    def audio_search(
        tool_call_id: Annotated[str, InjectedToolCallId],
        description: str | None = None,
        name: str | None = None,
    ) -> Command | str:
        """Find voices in the voice library by name or by description (timbre, style, gender, age)."""
        if not description and not name:
            raise ToolException("say which voice: a name or a description")
        lib = lib_ref.get()
        query, hits = description, []
        if name:
            v = lib.find_by_name(name)
            if v is not None:
                query, hits = name, [{"id": v.id, "name": v.name, "score": 1.0, **v.attributes()}]
            elif not description:
                query = name
        if not hits:
            hits = [voice_hit_dict(h) for h in lib.search(text=query, top_k=top_k)]
        content = to_json({"query": query, "voices": hits})
        if not hits:
            return content
        return Command(
            update={
                "voice": voice_spec_from_attrs(hits[0]).model_dump(),
                "messages": [ToolMessage(content=content, tool_call_id=tool_call_id, name=NAME)],
            }
        )

    return audio_search


# -- the request -------------------------------------------------------------------------------
_VOICE_NAME = re.compile(
    r"\b(?:voice|speaker)\s+(?:called|named)\s+([\w'-]+(?:\s+[A-Z][\w'-]*)?)"
    r"|\b(?:use|switch to|change to)\s+([A-Z][\w'-]+)(?:'s)?\s+voice\b"
    r"|\bsound like\s+([A-Z][\w'-]+)\b",
)
_VOICE_PREFIX = re.compile(
    r"^(?:please\s+|can you\s+|could you\s+)*"
    r"(?:switch|change|set)(?: your| the)?(?: voice)?(?: to)?\s+|"
    r"^(?:please\s+|can you\s+|could you\s+)*(?:use|speak(?: in| with| like)?|talk(?: like| with)?|sound like)\s+",
    re.I,
)


def voice_request(text: str) -> dict[str, str] | None:
    """{'name': ...} for a voice asked for by name, else {'description': ...}."""
    t = text.strip().rstrip("?.!")
    m = _VOICE_NAME.search(t)
    if m:
        name = next(g for g in m.groups() if g)
        return {"name": name.strip().rstrip("'s")}
    t = re.sub(r"[,\s]*\bplease\b[,\s]*", " ", t, flags=re.I).strip()
    d = _VOICE_PREFIX.sub("", t)
    d = re.sub(r"^(?:your|the|my)\s+voice\b\s*(?:to\s+)?", "", d, flags=re.I)
    d = re.sub(r"^(?:a|an|the)\s+", "", d, flags=re.I)
    d = re.sub(r"\s+voice$", "", d, flags=re.I).strip()
    if not d or d.lower() in {"voice", "another voice", "a different voice", "different voice"}:
        return {"description": "a different voice"}
    return {"description": d}


def parse(text: str, previous: PreviousCall | None = None) -> dict[str, Any] | None:
    return voice_request(text)


def say(result: Any, args: dict[str, Any]) -> str:
    voices = result.get("voices") if isinstance(result, dict) else result
    if not voices:
        what = args.get("name") or args.get("description") or "that"
        return f"I couldn't find a voice like {what} in the voice library, so I'll keep this one."
    v = voices[0]
    desc = ", ".join(
        str(x) for x in (v.get("gender"), v.get("age_band"), v.get("style")) if x and x != "unknown"
    )
    return f"Okay, I'm now speaking as {v.get('name') or v.get('id')}" + (f", {desc}" if desc else "") + "."


def make_tool(library: Lazy[VoiceLibrary], top_k: int = 3) -> BaseTool:
    return standard_tool(
        make_audio_search(library, top_k), NAME, DESCRIPTION,
        examples=EXAMPLES, cues=CUES, parse=parse, say=say,
        say_error=error_sayer("search the voice library"),
    )  # fmt: skip
