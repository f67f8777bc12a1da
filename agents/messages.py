"""Lossless conversion between stepvox `Message`s and langchain-core messages.

LangGraph keeps langchain-core messages in its state; `to_langchain` and `from_langchain`
convert both ways without losing a part: the typed parts travel in
`additional_kwargs["stepvox_parts"]`, and the langchain-native fields (content, `tool_calls`,
`tool_call_id`) are filled too so `add_messages` and `ToolNode` work.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import numpy as np
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from model.messages import (
    PARTS_KEY,
    AudioTokensPart,
    Message,
    Role,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    parts_adapter,
)


def to_langchain(msg: Message) -> BaseMessage:
    parts = parts_adapter().dump_python(msg.parts, mode="json")
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
        parts = parts_adapter().validate_python(stored)
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


def heard_reply(last: AIMessage, seconds: float, texts: list[str | None],
                durations: list[float]) -> AIMessage:
    """The part of a reply that was heard when `seconds` of its audio chunks (their `texts`
    when the speaker knew them, and `durations`) had played: the sentences that had started,
    or, for speech codes, the played share of the codes and of the text."""
    ai = from_langchain(last)
    total = sum(durations)
    starts = np.cumsum([0.0, *durations[:-1]])
    heard = [t for t, s0 in zip(texts, starts, strict=True) if s0 < seconds]
    parts: list[Any] = []
    if texts and all(t is not None for t in texts):
        kept = " ".join(t for t in heard if t)
        if kept:
            parts.append(TextPart(text=kept))
    else:
        share = seconds / total
        text = ai.text
        cut = text.rfind(" ", 0, int(len(text) * share) + 1)
        if cut > 0:
            parts.append(TextPart(text=text[:cut]))
        codes = ai.audio_tokens[: int(len(ai.audio_tokens) * share)]
        if codes:
            parts.append(AudioTokensPart(tokens=codes))
    return to_langchain(Message(role="assistant", parts=parts, id=last.id))
