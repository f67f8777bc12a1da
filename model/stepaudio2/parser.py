"""Streaming parser for Step-Audio 2 output: token ids in, text / audio / tool calls out.

Token level (ids read from the tokenizer by name):
  * id >= `<audio_0>`: a speech code (id - 151696); code 6561 (`<audio_6561>`) is padding;
  * `<tts_start>` / `<tts_end>` open and close the spoken (interleaved text:audio) section,
    `<tts_pad>` pads it — none of them is text;
  * `<|EOT|>` (end of turn) and `<|endoftext|>` stop the reply;
  * everything else is text, decoded incrementally (incomplete UTF-8 is held back).

Text level (`TextScanner`, works on arbitrary chunk boundaries):
  * `<tool_call>function\\nNAME\\n{json}</tool_call>` — the Step-Audio 2 tool-call form
    (SGLang's `StepAudio2Detector`, the vLLM build's tool parser and chat template);
    a body that is not that form or whose JSON does not parse becomes a `ToolCallError`
    (the policy sends it back to the model as a tool error, never raises);
  * `<think>...</think>` — the reasoning of the "Think" variant, reported separately.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from model.stepaudio2.tokens import AUDIO_PAD_CODE, TOOL_CALL, TOOL_CALL_END, SpecialIds

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


@dataclass
class TextOut:
    text: str
    think: bool = False
    spoken: bool = False  # inside the <tts_start>..<tts_end> section


@dataclass
class AudioOut:
    codes: list[int]


@dataclass
class ToolCallOut:
    name: str
    arguments: dict[str, Any]
    raw: str


@dataclass
class ToolCallError:
    name: str
    raw: str
    error: str


@dataclass
class StopOut:
    reason: str = "stop"


ParsedEvent = TextOut | AudioOut | ToolCallOut | ToolCallError | StopOut


def parse_tool_call(body: str) -> ToolCallOut | ToolCallError:
    """Parse the inside of `<tool_call>...</tool_call>`."""
    raw = body
    text = body.strip("\n")
    lines = text.split("\n", 2)
    name, args_text = "", ""
    if len(lines) >= 2 and lines[0].strip() == "function":
        name = lines[1].strip()
        args_text = lines[2].strip() if len(lines) == 3 else ""
    elif text.lstrip().startswith("{"):  # tolerate {"name": ..., "arguments": {...}}
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            return ToolCallError("", raw, f"tool call is not valid JSON: {e.msg} at char {e.pos}")
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            return ToolCallError("", raw, "tool call JSON has no 'name'")
        args = obj.get("arguments", obj.get("parameters", {}))
        if isinstance(args, str):
            args_text, name = args, obj["name"]
        elif isinstance(args, dict):
            return ToolCallOut(obj["name"], args, raw)
        else:
            return ToolCallError(obj["name"], raw, "tool call arguments must be a JSON object")
    else:
        return ToolCallError("", raw, "tool call must be 'function\\nNAME\\n{json arguments}'")
    if not name:
        return ToolCallError("", raw, "tool call has no function name")
    if not args_text:
        return ToolCallOut(name, {}, raw)
    try:
        args = json.loads(args_text)
    except json.JSONDecodeError as e:
        return ToolCallError(
            name, raw, f"arguments of {name} are not valid JSON: {e.msg} at char {e.pos}"
        )
    if not isinstance(args, dict):
        return ToolCallError(name, raw, f"arguments of {name} must be a JSON object")
    return ToolCallOut(name, args, raw)


def _partial_suffix(buf: str, tags: tuple[str, ...]) -> int:
    """Length of the longest suffix of buf that is a proper prefix of one of tags."""
    best = 0
    for tag in tags:
        for n in range(min(len(tag) - 1, len(buf)), 0, -1):
            if buf.endswith(tag[:n]):
                best = max(best, n)
                break
    return best


@dataclass
class TextScanner:
    """Splits streamed text into plain text, think text and tool calls."""

    state: str = "text"  # text | think | tool
    buf: str = ""
    spoken: bool = False

    def feed(self, text: str) -> list[ParsedEvent]:
        self.buf += text
        out: list[ParsedEvent] = []
        while True:
            if self.state == "tool":
                end = self.buf.find(TOOL_CALL_END)
                if end < 0:
                    return out
                out.append(parse_tool_call(self.buf[:end]))
                self.buf = self.buf[end + len(TOOL_CALL_END) :]
                self.state = "text"
                continue
            tags = (TOOL_CALL, THINK_OPEN) if self.state == "text" else (THINK_CLOSE,)
            hits = [(self.buf.find(t), t) for t in tags if t in self.buf]
            if hits:
                pos, tag = min(hits)
                self._emit(out, self.buf[:pos])
                self.buf = self.buf[pos + len(tag) :]
                self.state = {TOOL_CALL: "tool", THINK_OPEN: "think", THINK_CLOSE: "text"}[tag]
                continue
            keep = _partial_suffix(self.buf, tags)
            self._emit(out, self.buf[: len(self.buf) - keep])
            self.buf = self.buf[len(self.buf) - keep :]
            return out

    def _emit(self, out: list[ParsedEvent], text: str) -> None:
        if text:
            out.append(TextOut(text, think=self.state == "think", spoken=self.spoken))

    def finish(self) -> list[ParsedEvent]:
        out: list[ParsedEvent] = []
        if self.state == "tool":
            out.append(ToolCallError("", self.buf, "tool call was not closed with </tool_call>"))
        else:
            self._emit(out, self.buf)
        self.buf, self.state = "", "text"
        return out


@dataclass
class StreamParser:
    """Feed generated token ids one by one (or in chunks); get parsed events back."""

    tokenizer: Any
    ids: SpecialIds
    in_tts: bool = False
    scanner: TextScanner = field(default_factory=TextScanner)
    stopped: bool = False
    _pending: list[int] = field(default_factory=list)
    _skip: set[int] = field(default_factory=set)
    _keep_special: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.scanner.spoken = self.in_tts
        decoder = getattr(self.tokenizer, "added_tokens_decoder", {}) or {}
        self._skip = {i for i, t in decoder.items() if getattr(t, "special", False)}
        for name in (TOOL_CALL, TOOL_CALL_END):
            i = self.tokenizer.convert_tokens_to_ids(name)
            if isinstance(i, int):
                self._keep_special.add(i)
        self._skip -= self._keep_special

    def _flush_text(self, final: bool = False) -> list[ParsedEvent]:
        if not self._pending:
            return []
        text = self.tokenizer.decode(
            self._pending, skip_special_tokens=False, clean_up_tokenization_spaces=False
        )
        if text.endswith("\ufffd") and not final and len(self._pending) < 8:
            return []  # an incomplete UTF-8 sequence: wait for its next byte
        self._pending = []
        return self.scanner.feed(text)

    def feed(self, token_ids: int | list[int]) -> list[ParsedEvent]:
        if isinstance(token_ids, int):
            token_ids = [token_ids]
        out: list[ParsedEvent] = []
        ids = self.ids
        for t in token_ids:
            if self.stopped:
                break
            if t in (ids.eot, ids.endoftext):
                out += self._flush_text(final=True) + self.scanner.finish()
                out.append(StopOut("stop"))
                self.stopped = True
            elif ids.is_audio(t):
                out += self._flush_text()
                code = ids.code(t)
                if code < AUDIO_PAD_CODE:
                    out.append(AudioOut([code]))
            elif t == ids.tts_start or t == ids.tts_end:
                out += self._flush_text(final=True)
                self.in_tts = t == ids.tts_start
                self.scanner.spoken = self.in_tts
            elif t == ids.tts_pad or (t in self._skip):
                continue
            else:
                self._pending.append(t)
                out += self._flush_text()
        return _merge(out)

    def finish(self) -> list[ParsedEvent]:
        if self.stopped:
            return []
        self.stopped = True
        return _merge(self._flush_text(final=True) + self.scanner.finish())


def _merge(events: list[ParsedEvent]) -> list[ParsedEvent]:
    """Join neighbouring audio events and neighbouring text events of the same kind."""
    out: list[ParsedEvent] = []
    for e in events:
        prev = out[-1] if out else None
        if isinstance(e, AudioOut) and isinstance(prev, AudioOut):
            prev.codes.extend(e.codes)
        elif (
            isinstance(e, TextOut)
            and isinstance(prev, TextOut)
            and (prev.think, prev.spoken) == (e.think, e.spoken)
        ):
            prev.text += e.text
        else:
            out.append(e)
    return out
