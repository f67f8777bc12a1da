"""Routing by meaning: MiniLM similarity of the transcript to each tool's description and
example phrasings, adjusted by the tool's cue words; arguments from the tool's own parser
(or, for a tool without one, from its schema); built-in small-talk intents; follow-ups that
reuse the previous turn's tool with a new argument.

The router knows no tool by name: everything about a tool comes with its `ToolSpec`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from core.text_embedding import TextEmbedder, get_text_embedder
from model.policy import PreviousCall, ToolSpec

# A tool's cue words: a bonus when one is said, a penalty when none is (so "book a flight
# to Paris" does not reach the clock just because it names a city).
CUE_BONUS, CUE_PENALTY = 0.25, 0.15
# the score floor of a request that names its tool outright (`ToolSpec.explicit`)
EXPLICIT_SCORE = 0.8

SMALL_TALK: dict[str, list[str]] = {
    "greeting": ["hello", "hi there", "good morning", "hey assistant"],
    "thanks": ["thank you", "thanks a lot", "that's great, thanks"],
    "capabilities": ["what can you do", "how can you help me", "what are you able to do"],
    "goodbye": ["goodbye", "bye for now", "see you later"],
    "repeat": ["say that again", "what did you say", "can you repeat that", "pardon"],
}

_QUESTION = re.compile(
    r"^(?:who|what|when|where|why|how|which|whose|is|are|was|were|does|do|did|tell me|explain|describe|define)\b",
    re.I,
)
_FOLLOW_UP = re.compile(r"^(?:and|what about|how about|and what about|also|now|then)\b", re.I)


@dataclass
class Route:
    kind: str  # "tool" | "small_talk" | "refuse" | "clarify"
    name: str = ""  # the tool, the small-talk intent, or (clarify) the tool asking / "empty"
    arguments: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)


@lru_cache(maxsize=256)
def _cue_pattern(cues: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(re.escape(c) for c in cues) + r")\b", re.I)


class Router:
    def __init__(self, embedder: TextEmbedder | None = None, threshold: float = 0.55) -> None:
        self.embedder = embedder or get_text_embedder()
        self.threshold = threshold

    @staticmethod
    def _phrases(tool: ToolSpec) -> list[str]:
        return [tool.description.split("\n")[0]] + list(tool.examples)

    def scores(self, text: str, tools: list[ToolSpec]) -> dict[str, float]:
        groups: dict[str, list[str]] = {f"tool:{t.name}": self._phrases(t) for t in tools}
        groups.update({f"talk:{k}": v for k, v in SMALL_TALK.items()})
        cues = {f"tool:{t.name}": t.cues for t in tools if t.cues}
        flat = [p for ps in groups.values() for p in ps]
        q = self.embedder.encode([text])[0]
        sims = self.embedder.encode(flat) @ q
        out, i = {}, 0
        for key, ps in groups.items():
            score = float(np.max(sims[i : i + len(ps)]))
            if key in cues:
                score += CUE_BONUS if _cue_pattern(tuple(cues[key])).search(text) else -CUE_PENALTY
            out[key] = score
            i += len(ps)
        return out

    def route(self, text: str, tools: list[ToolSpec], previous: PreviousCall | None = None) -> Route:
        names = {t.name: t for t in tools}
        text = text.strip()
        if not text:
            return Route(kind="clarify", name="empty")
        scores = self.scores(text, tools)

        # a follow-up that changes only the argument of the previous tool
        if previous and previous.name in names and (_FOLLOW_UP.match(text) or len(text.split()) <= 4):
            args = self.arguments(names[previous.name], text, previous)
            if args and args != previous.arguments:
                return Route("tool", previous.name, args, 1.0, scores)

        # a request that names its tool outright ("search online for ...", "17 times 23")
        for t in tools:
            if t.explicit is not None and _safe(t.explicit, text):
                scores[f"tool:{t.name}"] = max(scores.get(f"tool:{t.name}", 0.0), EXPLICIT_SCORE)

        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        for key, score in ranked:
            if score < self.threshold:
                break
            kind, name = key.split(":", 1)
            if kind == "talk":
                return Route("small_talk", name, {}, score, scores)
            args = self.arguments(names[name], text, previous)
            if args is None:
                if names[name].clarify:
                    return Route("clarify", name, {}, score, scores)
                continue  # the tool fits but its argument is not in the request
            return Route("tool", name, args, score, scores)

        # look it up when unsure: an information question goes to the tools that look things
        # up, in their order (the documents, then the web)
        best = ranked[0][1] if ranked else 0.0
        if _QUESTION.match(text):
            for t in sorted((t for t in tools if t.lookup is not None), key=lambda t: t.lookup):
                args = self.arguments(t, text, previous)
                if args is not None:
                    return Route("tool", t.name, args, best, scores)
        return Route("refuse", "", {}, best, scores)

    # -- arguments ----------------------------------------------------------------------------
    @staticmethod
    def arguments(tool: ToolSpec, text: str, previous: PreviousCall | None = None) -> dict[str, Any] | None:
        """The tool's arguments from the request: its own parser, else from its JSON schema;
        None when they are not in the request."""
        if tool.parse is not None:
            try:
                return tool.parse(text, previous)
            except Exception:  # a developer's parser that fails is a parser that found nothing
                return None
        return schema_arguments(tool.parameters or {}, text)


def _safe(fn: Any, text: str) -> bool:
    try:
        return bool(fn(text))
    except Exception:
        return False


# -- arguments of a tool without a parser -------------------------------------------------------
# parameters that want the request itself rather than a value from it
_WHOLE_REQUEST = re.compile(
    r"^(?:request|query|q|text|question|input|prompt|message|command|instruction|utterance|sentence)s?$"
    r"|_(?:request|query|text|question|prompt|message|command)$",
    re.I,
)
_PREPOSITION = re.compile(
    r"\b(?:in|at|for|to|on|about|of|from|with|into|by|called|named)\s+(?:(?:the|a|an|my|our|your)\s+)?",
    re.I,
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# parameters that want an identifier ("order_id", "ticket_number", "code"): the word with a digit
_IDENTIFIER_KEY = re.compile(r"(?:^|_)(?:id|number|no|num|code|ref|reference|sku)$", re.I)
_IDENTIFIER = re.compile(r"(?<![\w-])(?=[\w-]*\d)[A-Za-z0-9][\w-]*")


def _value_phrase(text: str) -> str:
    """The value a request names: what follows its last preposition ('turn on the lights in
    the kitchen' -> 'kitchen'), else the request."""
    last = None
    for m in _PREPOSITION.finditer(text):
        if text[m.end() :].strip():
            last = m
    return text[last.end() :].strip() if last else text


def schema_arguments(parameters: dict[str, Any], text: str) -> dict[str, Any] | None:
    """Fill a tool's single required parameter from the request: an enum value it names, a
    number, the request itself (for parameters such as `query` or `request`), an identifier
    (the word with a digit, for parameters such as `order_id`) or the noun phrase it ends
    with; several required numbers from as many numbers, in order. None when the schema asks
    for more than this can tell."""
    props = parameters.get("properties", {})
    required = parameters.get("required", [])
    if not required:
        return {}
    kinds = [props.get(k, {}).get("type") for k in required]
    if len(required) > 1 and all(k in ("number", "integer") for k in kinds):
        found = _NUMBER.findall(text)
        if len(found) != len(required):
            return None
        return {k: int(float(v)) if kind == "integer" else float(v)
                for k, kind, v in zip(required, kinds, found, strict=True)}  # fmt: skip
    if len(required) != 1:
        return None
    key = required[0]
    schema = props.get(key, {})
    kind = schema.get("type", "string")
    t = text.strip().rstrip("?.!")
    if "enum" in schema:
        for v in schema["enum"]:
            if re.search(rf"\b{re.escape(str(v))}\b", t, re.I):
                return {key: v}
        return None
    if kind in ("number", "integer"):
        m = _NUMBER.search(t)
        if not m:
            return None
        return {key: int(float(m.group(0))) if kind == "integer" else float(m.group(0))}
    if kind != "string":
        return None
    if _WHOLE_REQUEST.search(key):
        return {key: t}
    if _IDENTIFIER_KEY.search(key) and (m := _IDENTIFIER.search(t)):
        return {key: m.group(0)}
    return {key: _value_phrase(t)}
