"""The `remote` policy: a client for an OpenAI-compatible Step-Audio 2 server.

Works with the public serving builds (vLLM's `step-audio2-mini` branch, SGLang with the
`step_audio_2` audio/tool parsers) and with `stepvox serve-model`. The request follows
the official `stepaudio2vllm.py` client (read for facts): user audio is sent as
base64 16 kHz PCM16 wav `input_audio` parts, one per <= 25 s chunk, under role
`human`; a spoken reply is requested with a final `{"role": "assistant", "content":
"<tts_start>", "eot": false}` message plus `continue_final_message` (tts_mode
"prefill", the vLLM way) or with `"tts_output": true` (tts_mode "tts_output", SGLang);
earlier spoken turns go back with `tts_content` and `tool_calls`; tool results use
role `input` with the `tool_call_id`. Replies stream as server-sent events:
`delta.tts_content.tts_text` / `tts_audio` (`<audio_N>` strings), `delta.content`,
OpenAI `delta.tool_calls`. A server without a tool parser returns the raw
`<tool_call>function\\nNAME\\n{json}</tool_call>` text; it is parsed here too.

A server that cannot be reached, answers with an HTTP error, breaks off, or sends something
that is not a stream of JSON events makes `stream` raise `PolicyUnavailable` with one line
(`remote policy URL: connection refused`, `... HTTP 500 Internal Server Error: ...`,
`... malformed reply: ...`): the turn fails, it never ends with an empty reply.
"""

from __future__ import annotations

import base64
import io
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile as sf

from model.events import AudioTokens, Done, PolicyEvent, TextDelta, ToolCall
from model.messages import AudioPart, Message, TextPart, ToolResultPart
from model.openai_compat import http_problem
from model.policy import CancelToken, PolicyUnavailable, ToolSpec, VoiceSpec
from model.stepaudio2.audio import load_wav_16k
from model.stepaudio2.parser import (
    TextOut,
    TextScanner,
    ToolCallError,
    ToolCallOut,
    parse_tool_call,
)
from model.stepaudio2.prompt import tool_schemas
from model.stepaudio2.speech import StepAudio2Speaker

AUDIO_TOKEN_RE = re.compile(r"<audio_(\d+)>")
CONTROL_RE = re.compile(r"<tts_start>|<tts_end>|<tts_pad>|<\|EOT\|>|<\|endoftext\|>")
CHUNK_SAMPLES = 25 * 16000
DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful voice assistant. Answer briefly and naturally. "
    "Use the tools you are given when they help; after a tool result, answer from it."
)


def chat_url(base_url: str) -> str:
    u = base_url.rstrip("/")
    if u.endswith("/chat/completions"):
        return u
    if u.endswith("/v1"):
        return u + "/chat/completions"
    return u + "/v1/chat/completions"


def wav_chunks_b64(path: str) -> list[str]:
    """A speech file -> base64 16 kHz mono PCM16 wavs of at most 25 s each."""
    x = load_wav_16k(path)
    out = []
    for i in range(0, max(len(x), 1), CHUNK_SAMPLES):
        chunk = np.clip(x[i : i + CHUNK_SAMPLES], -1.0, 1.0)
        if chunk.size == 0:
            continue
        buf = io.BytesIO()
        sf.write(buf, chunk, 16000, format="WAV", subtype="PCM_16")
        out.append(base64.b64encode(buf.getvalue()).decode("ascii"))
    return out


def to_openai_messages(messages: list[Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            out.append({"role": "system", "content": m.text})
        elif m.role == "user":
            content: list[dict[str, Any]] = []
            for p in m.parts:
                if isinstance(p, TextPart) and p.text:
                    content.append({"type": "text", "text": p.text})
                elif isinstance(p, AudioPart):
                    for data in wav_chunks_b64(p.path):
                        content.append(
                            {"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}
                        )
            out.append({"role": "human", "content": content})
        elif m.role == "assistant":
            text = " ".join(p.text for p in m.parts_of(TextPart)).strip()
            msg: dict[str, Any] = {"role": "assistant", "content": text}
            if m.audio_tokens:
                msg["content"] = ""
                msg["tts_content"] = {
                    "tts_text": text,
                    "tts_audio": "".join(f"<audio_{c}>" for c in m.audio_tokens),
                }
            if m.tool_calls:
                msg["tool_calls"] = [
                    {"id": c.id, "type": "function",
                     "function": {"name": c.name, "arguments": json.dumps(c.arguments, ensure_ascii=False)}}
                    for c in m.tool_calls
                ]  # fmt: skip
            out.append(msg)
        elif m.role == "tool":
            for r in m.parts_of(ToolResultPart):
                content_text = f"Error: {r.content}" if r.is_error else r.content
                out.append({"role": "input", "tool_call_id": r.call_id, "content": content_text})
    return out


class RemotePolicy:
    name = "remote"

    def __init__(
        self,
        base_url: str | None = None,
        model: str = "step-audio-2-mini",
        *,
        api_key: str | None = None,
        timeout_s: float = 120.0,
        speak: bool = True,
        tts_mode: str = "prefill",
        max_tokens: int = 1024,
        temperature: float = 0.7,
        top_p: float = 0.9,
        repetition_penalty: float = 1.05,
        seed: int | None = None,
        system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
        tool_error_retries: int = 1,
        token2wav_dir: str | Path | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if not base_url:
            raise ValueError(
                "remote policy needs base_url (an OpenAI-compatible Step-Audio 2 server)"
            )
        if tts_mode not in ("prefill", "tts_output"):
            raise ValueError(f"tts_mode must be 'prefill' or 'tts_output', not {tts_mode!r}")
        self.url = chat_url(base_url)
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.speak = speak
        self.tts_mode = tts_mode
        self.sampling = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p,
                         "repetition_penalty": repetition_penalty}  # fmt: skip
        if seed is not None:
            self.sampling["seed"] = seed
        self.system_prompt = system_prompt
        self.tool_error_retries = tool_error_retries
        self.token2wav_dir = Path(token2wav_dir) if token2wav_dir else None
        self.extra_body = extra_body or {}
        self._speaker: StepAudio2Speaker | None = None

    # -- speech ------------------------------------------------------------
    def speaker(self) -> StepAudio2Speaker:
        """token2wav for replies with audio tokens, the embedded Piper TTS otherwise; each
        segment's `info["speech"]` tells which one spoke."""
        if self._speaker is None:
            self._speaker = StepAudio2Speaker(
                self.token2wav_dir, device="cpu", speaks=self.speak
            )
        return self._speaker

    # -- request -------------------------------------------------------------
    def build_request(self, messages: list[Message], tools: list[ToolSpec]) -> dict[str, Any]:
        msgs = to_openai_messages(messages)
        if self.system_prompt and not any(m["role"] == "system" for m in msgs):
            msgs.insert(0, {"role": "system", "content": self.system_prompt})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": msgs,
            "stream": True,
            **self.sampling,
        }
        body["skip_special_tokens"] = False
        if tools:
            body["tools"] = tool_schemas(tools)
            body["parallel_tool_calls"] = False
        if self.speak and self.tts_mode == "prefill":
            msgs.append({"role": "assistant", "content": "<tts_start>", "eot": False})
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        elif self.speak:
            body["tts_output"] = True
        body.update(self.extra_body)
        return body

    def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec],
        *,
        voice: VoiceSpec | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[PolicyEvent]:
        body = self.build_request(messages, tools)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        tool_names = {t.name for t in tools}
        info: dict[str, Any] = {
            "policy": self.name,
            "server": self.url,
        }
        calls: list[ToolCall] = []
        errors: list[str] = []
        finish = "stop"
        n_audio = 0
        for attempt in range(self.tool_error_retries + 1):
            scanner = TextScanner()
            partial: dict[int, dict[str, str]] = {}
            attempt_errors: list[str] = []
            said: list[str] = []
            try:
                with httpx.Client(timeout=self.timeout_s) as client:
                    with client.stream("POST", self.url, json=body, headers=headers) as resp:
                        if resp.status_code >= 400:
                            resp.read()
                            raise self._unavailable(
                                f"HTTP {resp.status_code} {resp.reason_phrase}: {resp.text[:200]}"
                            )
                        events = 0
                        for line in resp.iter_lines():
                            if cancel is not None and cancel.cancelled:
                                finish = "cancelled"
                                break
                            if not line.startswith("data:"):
                                continue
                            events += 1
                            data = line[5:].strip()
                            if data == "[DONE]":
                                break
                            try:
                                obj = json.loads(data)
                            except json.JSONDecodeError:
                                raise self._unavailable(f"malformed reply: an event is not JSON ({data[:80]})") from None
                            if not isinstance(obj, dict):
                                raise self._unavailable(f"malformed reply: an event is not an object ({data[:80]})")
                            if obj.get("usage"):
                                info["usage"] = obj["usage"]
                            for choice in obj.get("choices") or []:
                                delta = choice.get("delta") or choice.get("message") or {}
                                if choice.get("finish_reason"):
                                    finish = choice["finish_reason"]
                                tts = delta.get("tts_content") or {}
                                pieces = [tts.get("tts_text") or "", delta.get("content") or ""]
                                audio = tts.get("tts_audio") or ""
                                for text in pieces:
                                    codes = [int(c) for c in AUDIO_TOKEN_RE.findall(text)]
                                    audio += "".join(f"<audio_{c}>" for c in codes)
                                    text = CONTROL_RE.sub("", AUDIO_TOKEN_RE.sub("", text))
                                    for ev in scanner.feed(text):
                                        if isinstance(ev, TextOut) and not ev.think:
                                            said.append(ev.text)
                                            yield TextDelta(text=ev.text)
                                        elif isinstance(ev, ToolCallOut | ToolCallError):
                                            yield from self._emit_call(
                                                ev, tool_names, calls, attempt_errors
                                            )
                                codes = [int(c) for c in AUDIO_TOKEN_RE.findall(audio)]
                                codes = [c for c in codes if c < 6561]
                                if codes:
                                    n_audio += len(codes)
                                    yield AudioTokens(tokens=codes)
                                for tc in delta.get("tool_calls") or []:
                                    slot = partial.setdefault(
                                        int(tc.get("index", len(partial))),
                                        {"id": "", "name": "", "args": ""},
                                    )
                                    fn = tc.get("function") or {}
                                    slot["id"] = tc.get("id") or slot["id"]
                                    slot["name"] += fn.get("name") or ""
                                    args = fn.get("arguments")
                                    slot["args"] += (
                                        args if isinstance(args, str) else json.dumps(args or {})
                                    )
                        if not events and finish != "cancelled":
                            ctype = resp.headers.get("content-type", "none")
                            raise self._unavailable(
                                f"malformed reply: no server-sent events (Content-Type {ctype})"
                            )
            except httpx.HTTPError as e:
                raise self._unavailable(http_problem(e, self.timeout_s)) from None
            for ev in scanner.finish():
                if isinstance(ev, TextOut) and not ev.think:
                    said.append(ev.text)
                    yield TextDelta(text=ev.text)
                elif isinstance(ev, ToolCallError):
                    attempt_errors.append(ev.error)
            for _, slot in sorted(partial.items()):
                body_text = f"function\n{slot['name']}\n{slot['args'] or '{}'}"
                ev = parse_tool_call(body_text)
                yield from self._emit_call(
                    ev, tool_names, calls, attempt_errors, call_id=slot["id"] or None
                )
            errors += attempt_errors
            if (
                not attempt_errors
                or calls
                or finish == "cancelled"
                or attempt == self.tool_error_retries
            ):
                break
            # send the malformed call back as a tool error and ask again
            msgs = body["messages"]
            if msgs and msgs[-1].get("role") == "assistant" and msgs[-1].get("eot") is False:
                msgs.pop()
            msgs.append({"role": "assistant", "content": "".join(said)})
            note = (
                "Error: "
                + "; ".join(attempt_errors)
                + ". Call the tool again with valid JSON arguments."
            )
            msgs.append({"role": "input", "content": note})
            if self.speak and self.tts_mode == "prefill":
                msgs.append({"role": "assistant", "content": "<tts_start>", "eot": False})
        info["audio_tokens"] = n_audio
        if errors:
            info["tool_errors"] = errors
        if finish == "cancelled":
            yield Done(reason="cancelled", info=info)
        elif calls:
            yield Done(reason="tool_calls", info=info)
        else:
            yield Done(reason="length" if finish == "length" else "stop", info=info)

    def _unavailable(self, problem: str) -> PolicyUnavailable:
        return PolicyUnavailable(" ".join(f"remote policy {self.url}: {problem}".split()))

    @staticmethod
    def _emit_call(ev, tool_names, calls, errors, call_id: str | None = None) -> Iterator[ToolCall]:
        if isinstance(ev, ToolCallError):
            errors.append(ev.error)
            return
        if tool_names and ev.name not in tool_names:
            errors.append(f"there is no tool named {ev.name!r}; available: {sorted(tool_names)}")
            return
        call = ToolCall(
            id=call_id or f"call_{uuid.uuid4().hex[:12]}", name=ev.name, arguments=ev.arguments
        )
        calls.append(call)
        yield call
