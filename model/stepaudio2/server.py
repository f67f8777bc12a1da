"""An OpenAI-compatible Step-Audio 2 server for a local checkpoint (`stepvox serve-model`).

It speaks the request/response dialect of the public Step-Audio 2 serving builds (the
vLLM `step-audio2-mini` branch and SGLang with `--audio-parser step_audio_2
--tool-call-parser step_audio_2`), as used by the official `stepaudio2vllm.py` client
(read for facts):

* `POST /v1/chat/completions` with `messages` whose roles are system, user/human,
  assistant, tool/input; user content may hold `{"type": "input_audio", "input_audio":
  {"data": <base64 wav>, "format": "wav"}}` parts; earlier spoken assistant turns carry
  `tts_content: {"tts_text", "tts_audio": "<audio_12><audio_7>..."}` and `tool_calls`;
* a spoken reply is requested with `"tts_output": true` (SGLang) or by a final
  `{"role": "assistant", "content": "<tts_start>", "eot": false}` message (vLLM);
* the reply's spoken part comes back in `message.tts_content` / `delta.tts_content`,
  tool calls in OpenAI `tool_calls`, and `"stream": true` gives server-sent events
  ending with `data: [DONE]`;
* `GET /v1/models` lists the served model.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from model.events import AudioTokens, Done, TextDelta, ToolCall
from model.messages import (
    AudioPart,
    AudioTokensPart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from model.policy import ToolSpec
from model.stepaudio2.generation import SamplingParams
from model.stepaudio2.policy import StepAudio2Policy

AUDIO_TOKEN_RE = re.compile(r"<audio_(\d+)>")


class BadRequest(ValueError):
    pass


def _text_of(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            c.get("text", "") for c in content if isinstance(c, dict) and c.get("type") == "text"
        )
    raise BadRequest(f"unsupported message content: {type(content).__name__}")


def _audio_part(item: dict[str, Any], workdir: Path) -> AudioPart:
    spec = item.get("input_audio") or {}
    data = spec.get("data")
    if not isinstance(data, str):
        raise BadRequest("input_audio.data must be a base64 string")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as e:
        raise BadRequest(f"input_audio.data is not valid base64: {e}") from e
    fmt = spec.get("format", "wav")
    path = workdir / f"in-{uuid.uuid4().hex[:10]}.{fmt}"
    path.write_bytes(raw)
    try:
        import soundfile as sf

        info = sf.info(str(path))
    except Exception as e:  # noqa: BLE001 - soundfile raises several types
        raise BadRequest(f"input_audio is not a readable {fmt} file: {e}") from e
    return AudioPart(path=str(path), sample_rate=info.samplerate, duration_s=info.duration)


def parse_request(
    body: dict[str, Any], workdir: Path
) -> tuple[list[Message], list[ToolSpec], bool]:
    """OpenAI-style request -> (messages, tools, speak)."""
    raw_msgs = body.get("messages")
    if not isinstance(raw_msgs, list) or not raw_msgs:
        raise BadRequest("messages must be a non-empty list")
    raw_msgs = list(raw_msgs)
    speak = bool(body.get("tts_output", False))
    last = raw_msgs[-1]
    if (
        isinstance(last, dict)
        and last.get("role") == "assistant"
        and (last.get("eot") is False or body.get("continue_final_message"))
        and "<tts_start>" in _text_of(last.get("content"))
    ):
        speak = True
        raw_msgs.pop()
    elif (
        isinstance(last, dict)
        and last.get("role") == "assistant"
        and last.get("content") is None
        and not last.get("tool_calls")
    ):
        raw_msgs.pop()
    names: dict[str, str] = {}
    msgs: list[Message] = []
    for m in raw_msgs:
        if not isinstance(m, dict) or "role" not in m:
            raise BadRequest("every message needs a role")
        role = m["role"]
        content = m.get("content")
        if role == "system":
            msgs.append(Message.system_text(_text_of(content)))
        elif role in ("user", "human"):
            parts: list[Any] = []
            items = (
                content
                if isinstance(content, list)
                else [{"type": "text", "text": _text_of(content)}]
            )
            for item in items:
                kind = item.get("type") if isinstance(item, dict) else None
                if kind == "text" and item.get("text"):
                    parts.append(TextPart(text=item["text"]))
                elif kind == "input_audio":
                    parts.append(_audio_part(item, workdir))
                elif kind not in ("text",):
                    raise BadRequest(f"unsupported content part type: {kind!r}")
            msgs.append(Message(role="user", parts=parts))
        elif role == "assistant":
            parts = []
            tts = m.get("tts_content") or {}
            text = tts.get("tts_text") or _text_of(content).replace("<tts_start>", "")
            if text:
                parts.append(TextPart(text=text))
            codes = [int(c) for c in AUDIO_TOKEN_RE.findall(tts.get("tts_audio") or "")]
            if codes:
                parts.append(AudioTokensPart(tokens=[c for c in codes if c < 6561]))
            for call in m.get("tool_calls") or []:
                fn = call.get("function", call)
                args = fn.get("arguments") or {}
                if isinstance(args, str):
                    try:
                        args = json.loads(args) if args.strip() else {}
                    except json.JSONDecodeError as e:
                        raise BadRequest(f"tool_calls arguments are not JSON: {e}") from e
                cid = call.get("id") or f"call_{uuid.uuid4().hex[:12]}"
                names[cid] = fn.get("name", "")
                parts.append(ToolCallPart(id=cid, name=fn.get("name", ""), arguments=args))
            msgs.append(Message(role="assistant", parts=parts))
        elif role in ("tool", "input", "function_output"):
            cid = m.get("tool_call_id") or ""
            msgs.append(
                Message(
                    role="tool",
                    parts=[
                        ToolResultPart(
                            call_id=cid,
                            name=m.get("name") or names.get(cid, ""),
                            content=_text_of(content),
                        )
                    ],
                )
            )
        else:
            raise BadRequest(f"unsupported role {role!r}")
    tools = []
    for t in body.get("tools") or []:
        fn = t.get("function", t) if isinstance(t, dict) else {}
        if not fn.get("name"):
            raise BadRequest("every tool needs function.name")
        tools.append(
            ToolSpec(
                name=fn["name"],
                description=fn.get("description", ""),
                parameters=fn.get("parameters") or {},
            )
        )
    return msgs, tools, speak


def _params(body: dict[str, Any], base: SamplingParams) -> SamplingParams:
    def num(key: str, default: Any, cast: type) -> Any:
        v = body.get(key)
        if v is None:
            return default
        try:
            return cast(v)
        except (TypeError, ValueError):
            raise BadRequest(f"{key} must be a number") from None

    return SamplingParams(
        max_new_tokens=num(
            "max_tokens", num("max_completion_tokens", base.max_new_tokens, int), int
        ),
        temperature=num("temperature", base.temperature, float),
        top_p=num("top_p", base.top_p, float),
        top_k=num("top_k", base.top_k, int),
        repetition_penalty=num("repetition_penalty", base.repetition_penalty, float),
        seed=num("seed", base.seed, int),
    )


def _audio_str(codes: list[int]) -> str:
    return "".join(f"<audio_{c}>" for c in codes)


def _tool_call_json(ev: ToolCall, index: int) -> dict[str, Any]:
    return {
        "index": index,
        "id": ev.id,
        "type": "function",
        "function": {"name": ev.name, "arguments": json.dumps(ev.arguments, ensure_ascii=False)},
    }


def create_app(policy: Any, model_name: str = "step-audio-2-mini"):
    """A FastAPI app serving `policy` (a StepAudio2Policy) with the API above."""
    app = FastAPI(title="stepvox Step-Audio 2 server")
    workroot = Path(tempfile.mkdtemp(prefix="stepvox-serve-"))

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": model_name, "object": "model", "owned_by": "stepvox"}],
        }

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return JSONResponse(
                {"error": {"message": "request body is not JSON", "type": "invalid_request_error"}},
                400,
            )
        if not isinstance(body, dict):
            return JSONResponse(
                {
                    "error": {
                        "message": "request body must be an object",
                        "type": "invalid_request_error",
                    }
                },
                400,
            )
        workdir = Path(tempfile.mkdtemp(dir=workroot))
        try:
            msgs, tools, speak = parse_request(body, workdir)
            params = _params(body, policy.params)
        except BadRequest as e:
            shutil.rmtree(workdir, ignore_errors=True)
            return JSONResponse(
                {"error": {"message": str(e), "type": "invalid_request_error"}}, 400
            )
        rid = f"chatcmpl-{uuid.uuid4().hex[:16]}"
        created = int(time.time())
        name = body.get("model") or model_name

        def events():
            try:
                yield from policy.run(msgs, tools, speak=speak, params=params)
            finally:  # the request's audio files are not needed once it is answered
                shutil.rmtree(workdir, ignore_errors=True)

        def chunk(
            delta: dict[str, Any], finish: str | None = None, usage: dict | None = None
        ) -> str:
            obj: dict[str, Any] = {
                "id": rid, "object": "chat.completion.chunk", "created": created, "model": name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }  # fmt: skip
            if usage:
                obj["usage"] = usage
            return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"

        def usage_of(done: Done | None) -> dict[str, int]:
            info = done.info if done else {}
            p, c = int(info.get("prompt_tokens", 0)), int(info.get("generated_tokens", 0))
            return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}

        def finish_of(done: Done | None) -> str:
            r = done.reason if done else "stop"
            return {"tool_calls": "tool_calls", "length": "length"}.get(r, "stop")

        if body.get("stream"):

            def sse():
                yield chunk({"role": "assistant", "content": ""})
                done = None
                n_calls = 0
                for ev in events():
                    if isinstance(ev, TextDelta):
                        if speak:
                            yield chunk({"tts_content": {"tts_text": ev.text, "tts_audio": ""}})
                        else:
                            yield chunk({"content": ev.text})
                    elif isinstance(ev, AudioTokens):
                        yield chunk(
                            {"tts_content": {"tts_text": "", "tts_audio": _audio_str(ev.tokens)}}
                        )
                    elif isinstance(ev, ToolCall):
                        yield chunk({"tool_calls": [_tool_call_json(ev, n_calls)]})
                        n_calls += 1
                    elif isinstance(ev, Done):
                        done = ev
                yield chunk({}, finish=finish_of(done), usage=usage_of(done))
                yield "data: [DONE]\n\n"

            return StreamingResponse(sse(), media_type="text/event-stream")

        text: list[str] = []
        codes: list[int] = []
        calls: list[dict[str, Any]] = []
        done = None
        for ev in events():
            if isinstance(ev, TextDelta):
                text.append(ev.text)
            elif isinstance(ev, AudioTokens):
                codes.extend(ev.tokens)
            elif isinstance(ev, ToolCall):
                tc = _tool_call_json(ev, len(calls))
                tc.pop("index")
                calls.append(tc)
            elif isinstance(ev, Done):
                done = ev
        message: dict[str, Any] = {"role": "assistant", "content": "" if speak else "".join(text)}
        if speak:
            message["tts_content"] = {"tts_text": "".join(text), "tts_audio": _audio_str(codes)}
        if calls:
            message["tool_calls"] = calls
        return {
            "id": rid, "object": "chat.completion", "created": created, "model": name,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_of(done)}],
            "usage": usage_of(done),
        }  # fmt: skip

    return app


def serve(
    model_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    model_name: str = "step-audio-2-mini",
    **policy_options: Any,
) -> None:
    """Load the checkpoint and serve it until interrupted."""
    policy = StepAudio2Policy(model_dir, **policy_options)
    policy.load()
    uvicorn.run(create_app(policy, model_name), host=host, port=port, log_level="warning")
