"""Conversation messages with typed parts.

A `Message` has a role and a list of parts. The parts are the units every stage
understands: text, audio (a file on disk plus its rate, so checkpoints stay small),
audio tokens (Step-Audio 2 codes, 0..6560), a tool call, a tool result and a voice
reference. The conversion to and from langchain-core messages lives with the graph
(`agents.messages`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter

from model.events import ToolCall

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


ToolCallPart = ToolCall  # one shape for a tool call: the policy's event is the message part


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


def parts_adapter() -> TypeAdapter:
    """Validates and dumps a list of parts (the checkpointed form of a message)."""
    return _PARTS

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
