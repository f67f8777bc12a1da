"""The `chat` policy: any LangChain chat model as the brain, between the embedded hearing
(the graph's VAD, then Whisper here) and the embedded speaking (Piper, with the voice
library's mapping, the same speaker as the embedded policy).

The brain is a `BaseChatModel` with native tool calling, given as an object
(`ChatBrainPolicy(model=ChatOllama(...))`) or built from the URL of an OpenAI-compatible
server (Ollama, llama.cpp's server, vLLM, ...) with `langchain-openai`'s `ChatOpenAI`
(`base_url=`, `model=` a model name, or the first one the server lists, `api_key=`). Each
generation binds the tools' JSON schemas, streams the model's text as `TextDelta`s (the
graph speaks it sentence by sentence as it arrives; `<think>` reasoning is never spoken),
then its tool calls as `ToolCall`s, then `Done`. Tool results go back framed as untrusted
data (`model.chat_messages`). A call whose arguments are not valid JSON is sent back to the
model once as a tool error. A model that cannot answer (server down, HTTP error, a reply that
is not a stream of chat-completion events) makes `stream` raise `PolicyUnavailable` with
one line naming the endpoint.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, ToolMessage

from model.chat_messages import DEFAULT_SYSTEM_PROMPT, to_chat_messages, tool_schemas
from model.embedded.asr import WhisperASR
from model.embedded.tts import PiperSpeaker
from model.events import Done, PolicyEvent, TextDelta, ToolCall, Transcript
from model.messages import AudioPart, Message
from model.openai_compat import api_base, http_problem, is_http_error, list_models, one_line
from model.policy import CancelToken, PolicyUnavailable, ToolSpec, VoiceSpec

DIDNT_CATCH = "Sorry, I didn't catch that. Could you say it again?"
NO_ANSWER = "Sorry, I have no answer to that."
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


class ThinkFilter:
    """Drops `<think>...</think>` from streamed text (reasoning some servers leave in the
    content), whatever the chunk boundaries."""

    def __init__(self) -> None:
        self.buf, self.inside = "", False

    def feed(self, text: str) -> str:
        self.buf += text
        out: list[str] = []
        while True:
            tag = THINK_CLOSE if self.inside else THINK_OPEN
            i = self.buf.find(tag)
            if i < 0:
                break
            if not self.inside:
                out.append(self.buf[:i])
            self.buf, self.inside = self.buf[i + len(tag):], not self.inside
        # hold back what may be the start of a tag
        keep = next((k for k in range(len(tag) - 1, 0, -1) if self.buf.endswith(tag[:k])), 0)
        cut = len(self.buf) - keep
        if not self.inside:
            out.append(self.buf[:cut])
        self.buf = self.buf[cut:]
        return "".join(out)

    def finish(self) -> str:
        rest, self.buf = self.buf, ""
        return "" if self.inside else rest


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(b if isinstance(b, str) else b.get("text", "") for b in content
                       if isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text"))  # fmt: skip
    return ""


def _causes(e: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    x: BaseException | None = e
    while x is not None and id(x) not in seen:
        seen.add(id(x))
        yield x
        x = x.__cause__ or x.__context__


def failure(e: Exception, timeout_s: float | None) -> str:
    """What a chat model's exception says about its server, in a few words (the client's
    own exception types differ: the HTTP error under them says it)."""
    for x in _causes(e):
        resp = getattr(x, "response", None)
        code = getattr(x, "status_code", None) or getattr(resp, "status_code", None)
        if isinstance(code, int) and hasattr(resp, "reason_phrase"):
            try:
                body = resp.text
            except Exception:  # a streamed body not read
                body = str(getattr(x, "message", ""))
            return f"HTTP {code} {resp.reason_phrase}: {one_line(body)}"
        if is_http_error(x):
            return http_problem(x, timeout_s)
    if isinstance(e, json.JSONDecodeError):
        return f"malformed reply: an event is not JSON ({one_line(e.doc, 80)})"
    if "no generation chunks" in str(e).lower():
        return "malformed reply: no chat-completion events"
    return f"{type(e).__name__}: {one_line(str(e))}"


def _describe(model: BaseChatModel) -> tuple[str, str | None]:
    """(endpoint, model name) of a chat model object, as far as it tells."""
    name = next((v for a in ("model_name", "model", "model_id")
                 if isinstance(v := getattr(model, a, None), str) and v), None)  # fmt: skip
    where = next((v for a in ("openai_api_base", "base_url", "api_base", "endpoint_url")
                  if isinstance(v := getattr(model, a, None), str) and v), None)  # fmt: skip
    return where or type(model).__name__, name


class ChatBrainPolicy:
    name = "chat"

    def __init__(
        self,
        model: BaseChatModel | str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout_s: float | None = None,
        system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
        tool_error_retries: int = 1,
        asr: WhisperASR | None = None,
    ) -> None:
        self.system_prompt = system_prompt
        self.tool_error_retries = tool_error_retries
        self.asr = asr or WhisperASR()
        self._speaker: PiperSpeaker | None = None
        self._lock = threading.Lock()
        if isinstance(model, BaseChatModel):
            given = [k for k, v in (("base_url", base_url), ("api_key", api_key), ("temperature", temperature),
                                    ("max_tokens", max_tokens), ("timeout_s", timeout_s)) if v is not None]  # fmt: skip
            if given:
                raise ValueError(f"chat policy: {', '.join(given)} apply to base_url; set them on the chat model object")
            if type(model).bind_tools is BaseChatModel.bind_tools:
                raise ValueError(f"chat policy: {type(model).__name__} has no native tool calling (bind_tools)")
            self._model: BaseChatModel | None = model
            self.endpoint, self.model_name = _describe(model)
            self.timeout_s = t if isinstance(t := getattr(model, "request_timeout", None), int | float) else None
            return
        if model is not None and not isinstance(model, str):
            raise ValueError(f"chat policy: model must be a LangChain chat model or a model name, not {type(model).__name__}")
        if not base_url:
            raise ValueError("chat policy needs a chat model object (model=...) or base_url (an OpenAI-compatible server)")
        self._model = None  # built on first use (the model name may come from the server)
        self.endpoint, self.model_name = api_base(base_url), model or None
        self.api_key, self.timeout_s = api_key, 120.0 if timeout_s is None else timeout_s
        self.sampling = {k: v for k, v in (("temperature", temperature), ("max_tokens", max_tokens)) if v is not None}

    # -- hearing and speaking: the embedded ones --------------------------------------
    def speaker(self) -> PiperSpeaker:
        if self._speaker is None:
            self._speaker = PiperSpeaker()
        return self._speaker

    def transcribe(self, part: AudioPart) -> str:
        return self.asr.transcribe_file(part.path)

    # -- the brain ---------------------------------------------------------------------
    def _unavailable(self, problem: str) -> PolicyUnavailable:
        return PolicyUnavailable(" ".join(f"chat brain {self.endpoint}: {problem}".split()))

    def chat_model(self) -> BaseChatModel:
        """The chat model (for a URL: `ChatOpenAI` on it, once the model name is known)."""
        with self._lock:
            if self._model is None:
                if self.model_name is None:
                    try:
                        names = list_models(self.endpoint, self.api_key, min(10.0, self.timeout_s))
                    except httpx.TransportError as e:  # down, unreachable: that is the news
                        raise self._unavailable(failure(e, min(10.0, self.timeout_s))) from None
                    except (httpx.HTTPError, ValueError) as e:
                        why = str(e) if isinstance(e, ValueError) else failure(e, None)
                        raise self._unavailable(f"no model named (brain_model) and GET /models failed: {why}") from None
                    if not names:
                        raise self._unavailable("no model named (brain_model) and the server lists none")
                    self.model_name = names[0]
                from langchain_openai import ChatOpenAI  # 3 s of imports: only for a URL brain

                self._model = ChatOpenAI(
                    base_url=self.endpoint, model=self.model_name, api_key=self.api_key or "unused",
                    timeout=self.timeout_s, max_retries=0, **self.sampling,
                )  # fmt: skip
            return self._model

    def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec],
        *,
        voice: VoiceSpec | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[PolicyEvent]:
        info: dict[str, Any] = {"policy": self.name, "brain": self.endpoint}
        messages = list(messages)
        users = [i for i, m in enumerate(messages) if m.role == "user"]
        if users:
            user = messages[users[-1]]
            audio = user.parts_of(AudioPart)
            if not user.text and audio and audio[-1].transcript is None:
                heard = self.transcribe(audio[-1])
                user = messages[users[-1]] = user.model_copy(deep=True)  # the caller's stays
                user.parts_of(AudioPart)[-1].transcript = heard
                yield Transcript(text=heard)
            if not user.text.strip() and users[-1] == len(messages) - 1:
                yield TextDelta(text=DIDNT_CATCH)
                yield Done(reason="stop", confidence=0.0, info=info)
                return
        if cancel is not None and cancel.cancelled:
            yield Done(reason="cancelled", info=info)
            return
        model = self.chat_model()
        info["model"] = self.model_name
        bound = model.bind_tools(tool_schemas(tools)) if tools else model
        prompt = to_chat_messages(messages, self.system_prompt)
        errors: list[str] = []
        for attempt in range(self.tool_error_retries + 1):
            said: list[str] = []
            acc = None
            think = ThinkFilter()
            chunks = iter(bound.stream(prompt))
            try:
                while not (cancel is not None and cancel.cancelled):
                    try:
                        chunk = next(chunks, None)
                    except Exception as e:  # the model's own failure: its server, its reply
                        raise self._unavailable(failure(e, self.timeout_s)) from None
                    if chunk is None:
                        break
                    acc = chunk if acc is None else acc + chunk
                    if text := think.feed(_text(chunk.content)):
                        said.append(text)
                        yield TextDelta(text=text)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()  # stops the HTTP stream on barge-in
            if cancel is not None and cancel.cancelled:
                yield Done(reason="cancelled", info=info)
                return
            if text := think.finish():
                said.append(text)
                yield TextDelta(text=text)
            if acc is not None and acc.usage_metadata:
                info["usage"] = dict(acc.usage_metadata)
            calls = [ToolCall(id=c.get("id") or f"call_{uuid.uuid4().hex[:12]}", name=c["name"],
                              arguments=dict(c.get("args") or {}))
                     for c in (acc.tool_calls if acc is not None else [])]  # fmt: skip
            invalid = list(acc.invalid_tool_calls) if acc is not None else []
            errors += [f"{c.get('name')}: arguments are not valid JSON ({one_line(c.get('args') or '', 80)})"
                       for c in invalid]  # fmt: skip
            if calls or not invalid or attempt == self.tool_error_retries:
                break
            # send the broken calls back as tool errors and ask again
            bad = [{"name": c.get("name") or "unknown", "args": {}, "id": c.get("id") or f"call_{uuid.uuid4().hex[:12]}"}
                   for c in invalid]  # fmt: skip
            prompt = [*prompt, AIMessage(content="".join(said), tool_calls=bad)] + [
                ToolMessage(content=f"Error: {e}. Call the tool again with valid JSON arguments.",
                            tool_call_id=b["id"], name=b["name"], status="error")
                for b, e in zip(bad, errors[-len(bad):], strict=True)
            ]  # fmt: skip
        if errors:
            info["tool_errors"] = errors
        finish = (acc.response_metadata.get("finish_reason") if acc is not None else None) or "stop"
        yield from calls
        if not calls and not "".join(said).strip():
            info["empty_reply"] = True
            yield TextDelta(text=NO_ANSWER)
        reason = "tool_calls" if calls else "length" if finish == "length" else "stop"
        yield Done(reason=reason, info=info)
