"""Conversation messages with typed parts, and lossless conversion to langchain-core.

A `Message` has a role and a list of parts. The parts are the units every stage
understands: text, audio (a file on disk plus its rate, so checkpoints stay small),
audio tokens (Step-Audio 2 codes, 0..6560), a tool call, a tool result and a voice
reference. LangGraph keeps langchain-core messages in its state; `to_langchain` and
`from_langchain` convert both ways without losing a part: the typed parts travel
in `additional_kwargs["stepvox_parts"]`, and the langchain-native fields (content,
`tool_calls`, `tool_call_id`) are filled too so `add_messages` and `ToolNode` work.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from pydantic import BaseModel, Field, TypeAdapter

PARTS_KEY = "stepvox_parts"


class TextPart(BaseModel):
    type: Literal["text"] = "text"
    text: str


class AudioPart(BaseModel):
    """Audio stored as a file; `transcript` is filled once something has heard it."""

    type: Literal["audio"] = "audio"
    path: str
    sample_rate: int
    duration_s: float = 0.0
    transcript: str | None = None


class AudioTokensPart(BaseModel):
    """Step-Audio 2 speech codes (token id - 151696), 25 per second."""

    type: Literal["audio_tokens"] = "audio_tokens"
    tokens: list[int]


class ToolCallPart(BaseModel):
    type: Literal["tool_call"] = "tool_call"
    id: str = Field(default_factory=lambda: f"call_{uuid.uuid4().hex[:12]}")
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolResultPart(BaseModel):
    type: Literal["tool_result"] = "tool_result"
    call_id: str
    name: str
    content: str
    is_error: bool = False


class VoiceRefPart(BaseModel):
    """A voice from the voice library (by id), or a prompt recording."""

    type: Literal["voice"] = "voice"
    voice_id: str
    name: str | None = None
    prompt_path: str | None = None


Part = Annotated[
    TextPart | AudioPart | AudioTokensPart | ToolCallPart | ToolResultPart | VoiceRefPart,
    Field(discriminator="type"),
]
_PARTS = TypeAdapter(list[Part])

Role = Literal["system", "user", "assistant", "tool"]


class Message(BaseModel):
    role: Role
    parts: list[Part] = Field(default_factory=list)
    id: str | None = None

    # -- convenience -------------------------------------------------------
    @property
    def text(self) -> str:
        """Text of the message: text parts, else audio transcripts, else tool results."""
        texts = [p.text for p in self.parts if isinstance(p, TextPart)]
        if not texts:
            texts = [p.transcript for p in self.parts if isinstance(p, AudioPart) and p.transcript]
        if not texts:
            texts = [p.content for p in self.parts if isinstance(p, ToolResultPart)]
        return " ".join(t for t in texts if t).strip()

    def parts_of(self, kind: type) -> list:
        return [p for p in self.parts if isinstance(p, kind)]

    @property
    def tool_calls(self) -> list[ToolCallPart]:
        return self.parts_of(ToolCallPart)

    @property
    def audio_tokens(self) -> list[int]:
        out: list[int] = []
        for p in self.parts_of(AudioTokensPart):
            out.extend(p.tokens)
        return out

    @classmethod
    def user_text(cls, text: str) -> Message:
        return cls(role="user", parts=[TextPart(text=text)])

    @classmethod
    def system_text(cls, text: str) -> Message:
        return cls(role="system", parts=[TextPart(text=text)])


# -- langchain-core conversion ------------------------------------------------
def to_langchain(msg: Message) -> BaseMessage:
    parts = _PARTS.dump_python(msg.parts, mode="json")
    extra = {PARTS_KEY: parts}
    content = msg.text
    kw: dict[str, Any] = {"content": content, "additional_kwargs": extra}
    if msg.id:
        kw["id"] = msg.id
    if msg.role == "system":
        return SystemMessage(**kw)
    if msg.role == "user":
        return HumanMessage(**kw)
    if msg.role == "assistant":
        calls = [{"name": c.name, "args": c.arguments, "id": c.id} for c in msg.tool_calls]
        return AIMessage(tool_calls=calls, **kw)
    results = msg.parts_of(ToolResultPart)
    if not results:
        raise ValueError("a tool message needs a ToolResultPart")
    r = results[0]
    return ToolMessage(
        tool_call_id=r.call_id, name=r.name, status="error" if r.is_error else "success", **kw
    )


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for block in content:
            if isinstance(block, str):
                out.append(block)
            elif isinstance(block, dict) and block.get("type") == "text":
                out.append(block.get("text", ""))
        return "".join(out)
    return json.dumps(content, default=str)


def from_langchain(m: BaseMessage) -> Message:
    stored = m.additional_kwargs.get(PARTS_KEY) if m.additional_kwargs else None
    if isinstance(m, SystemMessage):
        role: Role = "system"
    elif isinstance(m, HumanMessage):
        role = "user"
    elif isinstance(m, AIMessage):
        role = "assistant"
    elif isinstance(m, ToolMessage):
        role = "tool"
    else:
        raise ValueError(f"unsupported langchain message type: {type(m).__name__}")
    if stored is not None:
        parts = _PARTS.validate_python(stored)
        if isinstance(m, ToolMessage):
            # a ToolNode may have rewritten the content; the langchain fields win
            parts = [p for p in parts if not isinstance(p, ToolResultPart)]
            parts.insert(0, _tool_result_from(m))
        return Message(role=role, parts=parts, id=m.id)
    # a message made by langchain code (e.g. ToolNode) without our parts
    parts: list = []
    text = _content_text(m.content)
    if isinstance(m, ToolMessage):
        parts.append(_tool_result_from(m))
    else:
        if text:
            parts.append(TextPart(text=text))
        if isinstance(m, AIMessage):
            for c in m.tool_calls:
                parts.append(
                    ToolCallPart(
                        id=c.get("id") or f"call_{uuid.uuid4().hex[:12]}",
                        name=c["name"],
                        arguments=dict(c.get("args") or {}),
                    )
                )
    return Message(role=role, parts=parts, id=m.id)


def _tool_result_from(m: ToolMessage) -> ToolResultPart:
    return ToolResultPart(
        call_id=m.tool_call_id,
        name=m.name or "",
        content=_content_text(m.content),
        is_error=getattr(m, "status", "success") == "error",
    )


def messages_from_langchain(ms: list[BaseMessage]) -> list[Message]:
    return [from_langchain(m) for m in ms]
