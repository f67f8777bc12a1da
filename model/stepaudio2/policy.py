"""The `step-audio-2` policy: a local Step-Audio 2 checkpoint as a stepvox Policy.

`stream(messages, tools)` builds the prompt (system, tool schemas, the conversation with
its audio, earlier spoken turns replayed with their tokens, tool results as `input`
turns), generates with the KV-cache generator and parses the output as it streams:
`TextDelta` for text, `AudioTokens` (speech codes, in groups of `audio_chunk_tokens`)
for audio, `ToolCall` for each well-formed tool call, then `Done` ("tool_calls" when
the graph must run tools and call `stream` again with the results appended).

A malformed tool call (bad JSON, unknown tool, unclosed tag) is not an error of the
turn: the policy appends what the model generated plus an `input` turn describing the
error and lets the model try again (`tool_error_retries` times).

`speaker()` returns the token2wav speaker when `model.token2wav` is importable and the
checkpoint has a `token2wav/` folder; otherwise the embedded Piper speaker reads the
reply text, and the segment's `info["speech"]` says "embedded-tts-fallback".
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from core.device import resolve_device
from model.events import AudioTokens, Done, PolicyEvent, TextDelta, ToolCall
from model.messages import Message
from model.policy import CancelToken, ToolSpec, VoiceSpec
from model.stepaudio2.generation import GenerationRequest, SamplingParams, StepAudio2Generator
from model.stepaudio2.parser import (
    AudioOut,
    StreamParser,
    TextOut,
    TextScanner,
    ToolCallError,
    ToolCallOut,
)
from model.stepaudio2.prompt import PromptBuilder
from model.stepaudio2.speech import StepAudio2Speaker
from model.stepaudio2.tokens import SpecialIds

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful voice assistant. Answer briefly and naturally. "
    "Use the tools you are given when they help; after a tool result, answer from it."
)


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if isinstance(device, torch.device):
        return device
    return resolve_device(device)  # ValueError when the device is not here


def _resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}[dtype]  # fmt: skip
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r} (float32, bfloat16 or float16)") from None


def voice_hint(voice: VoiceSpec | None) -> str:
    """A system-prompt line describing the active library voice (style follows the prompt;
    timbre comes from token2wav's prompt recording)."""
    if voice is None or (voice.voice_id == "default" and not voice.attributes and not voice.name):
        return ""
    name = voice.name or voice.voice_id
    attrs = ", ".join(
        f"{k}: {v}" for k, v in sorted(voice.attributes.items()) if isinstance(v, str | int | float)
    )
    return f"Speak in the voice {name!r}" + (f" ({attrs})." if attrs else ".")


def _checkpoint_max_new_tokens(model_dir: Path, default: int = 1024) -> int:
    """`max_new_tokens` of the checkpoint's generation_config.json, else `default`."""
    import json

    f = model_dir / "generation_config.json"
    try:
        value = json.loads(f.read_text()).get("max_new_tokens") if f.is_file() else None
    except (OSError, ValueError):
        value = None
    return int(value) if isinstance(value, int) and value > 0 else default


class StepAudio2Policy:
    name = "step-audio-2"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        device: str | None = "auto",
        dtype: str | torch.dtype | None = "auto",
        max_new_tokens: int | None = None,
        temperature: float = 0.7,
        top_p: float = 0.9,
        top_k: int = 0,
        repetition_penalty: float = 1.05,
        speak: bool = True,
        think: bool = False,
        system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
        seed: int | None = None,
        tool_error_retries: int = 2,
        audio_chunk_tokens: int = 25,
        token2wav_dir: str | Path | None = None,
        model: str | Path | None = None,  # alias of model_dir
    ) -> None:
        model_dir = model_dir or model
        if not model_dir:
            raise ValueError(
                "step-audio-2 policy needs model_dir (a Step-Audio 2 checkpoint directory)"
            )
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "config.json").is_file():
            raise ValueError(f"{self.model_dir}: not a Step-Audio 2 checkpoint (no config.json)")
        self.device = _resolve_device(device)
        self.dtype = _resolve_dtype(dtype, self.device)
        self.params = SamplingParams(
            max_new_tokens=max_new_tokens or _checkpoint_max_new_tokens(self.model_dir), temperature=temperature, top_p=top_p, top_k=top_k,
            repetition_penalty=repetition_penalty, seed=seed,
        )  # fmt: skip
        self.speak = speak
        self.think = think
        self.system_prompt = system_prompt
        self.tool_error_retries = tool_error_retries
        self.audio_chunk_tokens = max(1, audio_chunk_tokens)
        self.token2wav_dir = Path(token2wav_dir) if token2wav_dir else self.model_dir / "token2wav"
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, SpecialIds, StepAudio2Generator] | None = None
        self._speaker: StepAudio2Speaker | None = None

    # -- loading -----------------------------------------------------------
    def load(self) -> tuple[Any, Any, SpecialIds, StepAudio2Generator]:
        if self._loaded is None:
            tok = AutoTokenizer.from_pretrained(str(self.model_dir))
            ids = SpecialIds.from_tokenizer(tok)
            m = AutoModelForCausalLM.from_pretrained(str(self.model_dir), dtype=self.dtype)
            m = m.to(self.device).eval()
            m.config.audio_patch_token_id = ids.audio_patch
            pad = tok.pad_token_id if tok.pad_token_id is not None else ids.endoftext
            self._loaded = (m, tok, ids, StepAudio2Generator(m, pad_token_id=pad))
        return self._loaded

    # -- speech ------------------------------------------------------------
    def speaker(self) -> StepAudio2Speaker:
        """token2wav for replies with audio tokens, the embedded Piper TTS otherwise; each
        segment's `info["speech"]` tells which one spoke."""
        if self._speaker is None:
            self._speaker = StepAudio2Speaker(
                self.token2wav_dir, device=str(self.device), speaks=self.speak
            )
        return self._speaker

    # -- the turn ----------------------------------------------------------
    @staticmethod
    def _parser(tok: Any, ids: SpecialIds, *, in_tts: bool, think: bool) -> StreamParser:
        return StreamParser(
            tok, ids, in_tts=in_tts, scanner=TextScanner(state="think" if think else "text")
        )

    def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec],
        *,
        voice: VoiceSpec | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[PolicyEvent]:
        yield from self.run(messages, tools, voice=voice, cancel=cancel)

    def run(
        self,
        messages: list[Message],
        tools: list[ToolSpec],
        *,
        speak: bool | None = None,
        params: SamplingParams | None = None,
        system_prompt: str | None = None,
        voice: VoiceSpec | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[PolicyEvent]:
        """`stream` with per-call overrides (the model server uses them per request)."""
        _, tok, ids, generator = self.load()
        speak = self.speak if speak is None else speak
        builder = PromptBuilder(tok, ids)
        system = self.system_prompt if system_prompt is None else system_prompt
        hint = voice_hint(voice)
        if hint and messages and messages[0].role == "system":
            messages = [Message.system_text(f"{messages[0].text}\n{hint}"), *messages[1:]]
        elif hint:
            system = f"{system}\n{hint}" if system else hint
        prompt = builder.build(messages, tools, speak=speak, system_prompt=system, think=self.think)
        tool_names = {t.name for t in tools}
        base = params or self.params
        params = SamplingParams(**{**base.__dict__, "stop_token_ids": (ids.eot, ids.endoftext)})
        input_ids = list(prompt.input_ids)
        info: dict[str, Any] = {
            "policy": self.name,
            "prompt_tokens": len(input_ids),
            "audio_patches": prompt.n_patches,
        }
        calls: list[ToolCall] = []
        errors: list[str] = []
        thinking: list[str] = []
        n_generated = n_audio = 0
        reason = "stop"
        t0 = time.perf_counter()
        first_token_s: float | None = None

        for attempt in range(self.tool_error_retries + 1):
            think_phase = prompt.think and attempt == 0
            parser = self._parser(
                tok, ids, in_tts=prompt.speak if attempt == 0 else speak, think=think_phase
            )
            audio_buf: list[int] = []
            attempt_errors: list[str] = []
            results: list = []
            generated: list[int] = []
            phase_params = params
            while True:  # one pass, or two for the Think variant (reasoning, then the reply)
                req = GenerationRequest(input_ids=input_ids, audio=prompt.audio)
                phase_tokens: list[int] = []
                ended_think = False
                with self._lock:
                    for step in generator.stream(
                        [req], phase_params, cancel=cancel, results=results
                    ):
                        tok_id = step.tokens[0]
                        if tok_id is None:
                            continue
                        if first_token_s is None:
                            first_token_s = time.perf_counter() - t0
                        n_generated += 1
                        phase_tokens.append(tok_id)
                        for ev in parser.feed(tok_id):
                            if isinstance(ev, TextOut):
                                if ev.think:
                                    thinking.append(ev.text)
                                    continue
                                if audio_buf:
                                    yield AudioTokens(tokens=audio_buf)
                                    audio_buf = []
                                yield TextDelta(text=ev.text)
                            elif isinstance(ev, AudioOut):
                                n_audio += len(ev.codes)
                                audio_buf.extend(ev.codes)
                                if len(audio_buf) >= self.audio_chunk_tokens:
                                    yield AudioTokens(tokens=audio_buf)
                                    audio_buf = []
                            elif isinstance(ev, ToolCallOut):
                                if tool_names and ev.name not in tool_names:
                                    attempt_errors.append(
                                        f"there is no tool named {ev.name!r}; available: {sorted(tool_names)}"
                                    )
                                else:
                                    call = ToolCall(
                                        id=f"call_{uuid.uuid4().hex[:12]}",
                                        name=ev.name,
                                        arguments=ev.arguments,
                                    )
                                    calls.append(call)
                                    yield call
                            elif isinstance(ev, ToolCallError):
                                attempt_errors.append(ev.error)
                        if think_phase and parser.scanner.state != "think":
                            ended_think = True
                            break
                generated += phase_tokens
                left = phase_params.max_new_tokens - len(phase_tokens)
                if not ended_think or left <= 0:
                    break
                # reasoning done (</think>): continue with the reply, spoken if asked
                think_phase = False
                input_ids = input_ids + phase_tokens + builder.text("\n\n")
                if speak:
                    input_ids.append(ids.tts_start)
                parser = self._parser(tok, ids, in_tts=speak, think=False)
                phase_params = SamplingParams(**{**phase_params.__dict__, "max_new_tokens": left})
            for ev in parser.finish():
                if isinstance(ev, TextOut) and not ev.think:
                    yield TextDelta(text=ev.text)
                elif isinstance(ev, ToolCallError):
                    attempt_errors.append(ev.error)
            if audio_buf:
                yield AudioTokens(tokens=audio_buf)
            reason = results[0].finish_reason if results else "stop"
            info["prefill_ms"] = round(results[0].prefill_s * 1000, 1) if results else None
            errors += attempt_errors
            if (
                not attempt_errors
                or calls
                or reason == "cancelled"
                or attempt == self.tool_error_retries
            ):
                break
            # give the model its malformed call back as a tool error and let it retry
            if phase_tokens and phase_tokens[-1] in (ids.eot, ids.endoftext):
                phase_tokens = phase_tokens[:-1]
            note = (
                "Error: "
                + "; ".join(attempt_errors)
                + ". Call the tool again with valid JSON arguments."
            )
            input_ids = (
                input_ids + phase_tokens + [ids.eot] + builder.header("input") + builder.text(note)
            )
            input_ids += [ids.eot, *builder.header("assistant")]
            if speak:
                input_ids.append(ids.tts_start)

        elapsed = time.perf_counter() - t0
        info.update(
            generated_tokens=n_generated,
            audio_tokens=n_audio,
            first_token_ms=round(first_token_s * 1000, 1) if first_token_s is not None else None,
            tokens_per_s=round(n_generated / elapsed, 2) if elapsed > 0 else None,
        )
        if errors:
            info["tool_errors"] = errors
        if thinking:
            info["thinking"] = "".join(thinking)
        if reason == "cancelled":
            yield Done(reason="cancelled", info=info)
        elif calls:
            yield Done(reason="tool_calls", info=info)
        else:
            yield Done(reason="length" if reason == "length" else "stop", info=info)
