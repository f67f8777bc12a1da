"""Build Step-Audio 2 prompts (token ids + audio features) from stepvox messages.

The format follows the public release (read for facts; sources: the official
`stepaudio2.py` `apply_chat_template`, its `examples.py` tool-call example, and the
chat template of the vLLM/SGLang builds' `StepAudio2Tokenizer`):

    <|BOT|>system\\n{system prompt}<|EOT|>
    <|BOT|>tool_json_schemas\\n[{"type": "function", "function": {...}}, ...]<|EOT|>
    <|BOT|>human\\n{text}<audio_start><audio_patch>*n<audio_end>...<|EOT|>
    <|BOT|>assistant\\n<tts_start>{text/audio interleaved 1:4}<tts_end>
        <tool_call>function\\n{name}\\n{json arguments}</tool_call><|EOT|>
    <|BOT|>input\\n{tool result}<|EOT|>
    <|BOT|>assistant\\n<tts_start>            <- generation starts here (spoken reply)
    <|BOT|>assistant\\n                       <- generation starts here (text reply)

Earlier spoken assistant turns are replayed as `<tts_start>` + the text/audio tokens
interleaved one text token to four audio tokens (the `step_audio_2_tts_ta4` layout of the
servers' `build_tts_interleave_data`), padded with `<tts_pad>` / nothing, then `<tts_end>`.
Tool results use the `input` role of the official tool-call example. Text from users
and tools is tokenized with special-token parsing off, so it cannot inject control tokens.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from model.messages import (
    AudioPart,
    AudioTokensPart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from model.policy import ToolSpec
from model.stepaudio2.audio import AudioChunkFeatures, audio_features, load_wav_16k
from model.stepaudio2.tokens import TOOL_CALL, TOOL_CALL_END, SpecialIds

TTS_TEXT_PER_CHUNK = 1
TTS_AUDIO_PER_CHUNK = 4


@dataclass
class Prompt:
    input_ids: list[int]
    audio: list[AudioChunkFeatures] = field(default_factory=list)
    speak: bool = True  # ends with <tts_start>
    think: bool = False  # ends with "<think>\n" (the Think variant reasons first)

    @property
    def n_patches(self) -> int:
        return sum(c.n_patches for c in self.audio)


def tool_schemas(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """ToolSpecs -> the OpenAI-style function list the model sees."""
    out = []
    for t in tools:
        params = t.parameters or {"type": "object", "properties": {}}
        out.append(
            {
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": params},
            }
        )
    return out


def format_tool_call(name: str, arguments: dict[str, Any]) -> str:
    return f"function\n{name}\n{json.dumps(arguments, ensure_ascii=False)}"


class PromptBuilder:
    """Messages -> token ids with `<audio_patch>` placeholders and the matching audio chunks."""

    def __init__(
        self,
        tokenizer: Any,
        ids: SpecialIds | None = None,
        load_audio: Callable[[str], np.ndarray] = load_wav_16k,
    ) -> None:
        self.tok = tokenizer
        self.ids = ids or SpecialIds.from_tokenizer(tokenizer)
        self.load_audio = load_audio
        self._tool_open = tokenizer.convert_tokens_to_ids(TOOL_CALL)
        self._tool_close = tokenizer.convert_tokens_to_ids(TOOL_CALL_END)

    # -- pieces ------------------------------------------------------------
    def text(self, text: str) -> list[int]:
        if not text:
            return []
        return list(
            self.tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        )

    def header(self, role: str) -> list[int]:
        return [self.ids.bot, *self.text(f"{role}\n")]

    def tool_call(self, name: str, arguments: dict[str, Any]) -> list[int]:
        return [self._tool_open, *self.text(format_tool_call(name, arguments)), self._tool_close]

    def interleave(self, text_ids: list[int], codes: list[int]) -> list[int]:
        """Text and audio of a spoken turn, 1 text token : 4 audio tokens."""
        audio_ids = [self.ids.audio_offset + c for c in codes]
        n = max(len(text_ids), -(-len(audio_ids) // TTS_AUDIO_PER_CHUNK))
        out: list[int] = []
        for i in range(n):
            if i < len(text_ids):
                out.append(text_ids[i])
            elif self.ids.tts_pad is not None:
                out.append(self.ids.tts_pad)
            out.extend(audio_ids[i * TTS_AUDIO_PER_CHUNK : (i + 1) * TTS_AUDIO_PER_CHUNK])
        return out

    # -- messages ----------------------------------------------------------
    def _user(self, msg: Message, audio: list[AudioChunkFeatures]) -> list[int]:
        ids = self.header("human")
        for part in msg.parts:
            if isinstance(part, TextPart):
                ids += self.text(part.text)
            elif isinstance(part, AudioPart):
                try:
                    samples = self.load_audio(part.path)
                except (OSError, ValueError) as e:
                    raise ValueError(f"{part.path}: {e}") from e
                for chunk in audio_features(samples):
                    audio.append(chunk)
                    ids += [
                        self.ids.audio_start,
                        *[self.ids.audio_patch] * chunk.n_patches,
                        self.ids.audio_end,
                    ]
        return ids + [self.ids.eot]

    def _assistant(self, msg: Message) -> list[int]:
        ids = self.header("assistant")
        text = "".join(p.text for p in msg.parts if isinstance(p, TextPart))
        codes = msg.audio_tokens
        if codes:
            ids += [self.ids.tts_start, *self.interleave(self.text(text), codes), self.ids.tts_end]
        else:
            ids += self.text(text)
        for call in msg.parts_of(ToolCallPart):
            ids += self.tool_call(call.name, call.arguments)
        return ids + [self.ids.eot]

    def _tool(self, msg: Message) -> list[int]:
        ids: list[int] = []
        for r in msg.parts_of(ToolResultPart):
            content = f"Error: {r.content}" if r.is_error else r.content
            ids += [*self.header("input"), *self.text(content), self.ids.eot]
        return ids

    def build(
        self,
        messages: list[Message],
        tools: list[ToolSpec] | None = None,
        *,
        speak: bool = True,
        system_prompt: str | None = None,
        think: bool = False,
    ) -> Prompt:
        ids: list[int] = []
        audio: list[AudioChunkFeatures] = []
        msgs = list(messages)
        system_texts = []
        while msgs and msgs[0].role == "system":
            system_texts.append(msgs.pop(0).text)
        system = "\n".join(t for t in system_texts if t) or system_prompt
        if system:
            ids += [*self.header("system"), *self.text(system), self.ids.eot]
        if tools:
            schemas = json.dumps(tool_schemas(tools), ensure_ascii=False)
            ids += [*self.header("tool_json_schemas"), *self.text(schemas), self.ids.eot]
        for msg in msgs:
            if msg.role == "system":
                ids += [*self.header("system"), *self.text(msg.text), self.ids.eot]
            elif msg.role == "user":
                ids += self._user(msg, audio)
            elif msg.role == "assistant":
                ids += self._assistant(msg)
            elif msg.role == "tool":
                ids += self._tool(msg)
        ids += self.header("assistant")
        if think:
            ids += self.text("<think>\n")
        elif speak:
            ids.append(self.ids.tts_start)
        return Prompt(input_ids=ids, audio=audio, speak=speak and not think, think=think)


def assistant_message(
    text: str, codes: list[int], calls: list[ToolCallPart] | None = None, msg_id: str | None = None
) -> Message:
    """The assistant message a finished generation becomes (what the graph appends)."""
    parts: list[Any] = []
    if text:
        parts.append(TextPart(text=text))
    if codes:
        parts.append(AudioTokensPart(tokens=list(codes)))
    parts.extend(calls or [])
    return Message(role="assistant", parts=parts, id=msg_id)
