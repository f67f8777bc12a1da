"""The embedded offline policy: hear (faster-whisper), decide (route by meaning to a tool,
answer from its result, extract from retrieved passages, or say plainly it can't help),
speak (Piper). Runs with no network and no GPU from models that ship on PyPI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.text_embedding import TextEmbedder, get_text_embedder
from model.embedded import answer
from model.embedded.asr import WhisperASR
from model.embedded.router import Router
from model.embedded.tts import PiperSpeaker
from model.events import Done, PolicyEvent, TextDelta, ToolCall, Transcript
from model.messages import AudioPart, Message, ToolCallPart, ToolResultPart
from model.policy import CancelToken, PreviousCall, ToolSpec, VoiceSpec

SMALL_TALK_REPLIES = {
    "greeting": "Hello! I can tell the time, do arithmetic, answer from your documents, "
    "search the web, check the weather, or change my voice.",
    "thanks": "You're welcome.",
    "capabilities": "I can tell the time anywhere, do arithmetic, answer questions from your "
    "documents, search the web, check the weather, and switch to another voice.",
    "goodbye": "Goodbye!",
}


class EmbeddedPolicy:
    name = "embedded"

    def __init__(
        self,
        route_threshold: float = 0.55,
        answer_threshold: float = 0.35,
        asr: WhisperASR | None = None,
        embedder: TextEmbedder | None = None,
    ) -> None:
        self.embedder = embedder or get_text_embedder()
        self.router = Router(self.embedder, threshold=route_threshold)
        self.answer_threshold = answer_threshold
        self.asr = asr or WhisperASR()
        self._speaker: PiperSpeaker | None = None

    def speaker(self) -> PiperSpeaker:
        if self._speaker is None:
            self._speaker = PiperSpeaker()
        return self._speaker

    # -- hearing -------------------------------------------------------------
    def transcribe(self, part: AudioPart) -> str:
        return self.asr.transcribe_file(part.path)

    # -- the policy ------------------------------------------------------------
    # Everything a turn reports (route, unsure, sources) goes into the `Done` it ends with:
    # one policy object serves concurrent sessions, so it keeps no per-turn state.
    def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec],
        *,
        voice: VoiceSpec | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[PolicyEvent]:
        users = [i for i, m in enumerate(messages) if m.role == "user"]
        if not users:
            yield from self._say("I didn't hear a question.", 0.0)
            return
        ui = users[-1]
        user = messages[ui]
        question = user.text
        audio = user.parts_of(AudioPart)
        if not question and audio and audio[-1].transcript is None:
            question = self.transcribe(audio[-1])
            yield Transcript(text=question)
        if cancel and cancel.cancelled:
            yield Done(reason="cancelled")
            return
        after = messages[ui + 1 :]
        if any(m.role == "tool" for m in after):
            yield from self._after_tools(question, after, tools)
            return
        if not question.strip():
            yield from self._say("Sorry, I didn't catch that. Could you say it again?", 0.0)
            return
        route = self.router.route(question, tools, self._previous_call(messages[:ui]))
        info = {"route": {"kind": route.kind, "name": route.name, "score": round(route.score, 3)}}
        specs = {t.name: t for t in tools}
        if route.kind == "tool":
            yield ToolCall(id=ToolCallPart(name=route.name).id, name=route.name, arguments=route.arguments)
            yield Done(reason="tool_calls", confidence=route.score, info=info)
        elif route.kind == "small_talk":
            if route.name == "repeat":
                last = next((m.text for m in reversed(messages[:ui]) if m.role == "assistant" and m.text), None)
                yield from self._say(last or "I haven't said anything yet.", route.score, info)
            else:
                yield from self._say(SMALL_TALK_REPLIES[route.name], route.score, info)
        elif route.kind == "clarify":
            spec = specs.get(route.name)
            text = spec.clarify if spec and spec.clarify else "Sorry, I didn't catch that. Could you say it again?"
            yield from self._say(text, route.score, info)
        else:
            info["unsure"] = {"refused": True}
            yield from self._say(answer.REFUSAL, route.score, info)

    def _say(self, text: str, confidence: float, info: dict[str, Any] | None = None) -> Iterator[PolicyEvent]:
        yield TextDelta(text=text)
        yield Done(reason="stop", confidence=confidence, info=info or {})

    @staticmethod
    def _previous_call(history: list[Message]) -> PreviousCall | None:
        for i in range(len(history) - 1, -1, -1):
            m = history[i]
            if m.role == "assistant" and m.tool_calls:
                call = m.tool_calls[-1]
                result = next(
                    (
                        r.content
                        for t in history[i + 1 :]
                        for r in t.parts_of(ToolResultPart)
                        if r.call_id == call.id
                    ),
                    "",
                )
                return PreviousCall(name=call.name, arguments=call.arguments, result=result)
        return None

    def _after_tools(self, question: str, after: list[Message], tools: list[ToolSpec]) -> Iterator[PolicyEvent]:
        """Say what the tools of this turn returned, each in its tool's own words; quote
        passages; when unsure of them, try the tool's fallback once."""
        specs = {t.name: t for t in tools}
        called = {c.name for m in after if m.role == "assistant" for c in m.tool_calls}
        # tools this turn reached as another's fallback: their failure means "I don't know"
        fallbacks = {specs[n].fallback for n in called if n in specs and specs[n].fallback}
        last_call_msg = next(m for m in reversed(after) if m.role == "assistant" and m.tool_calls)
        results = {r.call_id: r for m in after for r in m.parts_of(ToolResultPart)}
        replies: list[str] = []
        info: dict[str, Any] = {}
        confidence = 1.0
        for call in last_call_msg.tool_calls:
            r = results.get(call.id)
            if r is None:
                continue
            spec = specs.get(call.name)
            if r.is_error:
                replies.append(self._say_error(call.name, spec, r.content, call.arguments, call.name in fallbacks))
                if call.name in fallbacks:
                    confidence = 0.0
                continue
            data = answer.loads(r.content)
            found = answer.passages(data) if spec is None or spec.say is None or spec.extractive else None
            if (spec is not None and spec.extractive) or found is not None:
                text, conf, source = self._extractive(question, found or ([], "text"))
                fallback = specs.get(spec.fallback) if spec is not None and spec.fallback else None
                if text is None and fallback is not None and fallback.name not in called:
                    # not sure from these passages: look it up with the fallback tool
                    args = self.router.arguments(fallback, question) or {}
                    info["unsure"] = {"from": call.name, "confidence": round(conf, 3)}
                    yield ToolCall(id=ToolCallPart(name=fallback.name).id, name=fallback.name, arguments=args)
                    yield Done(reason="tool_calls", confidence=conf, info=info)
                    return
                if source:
                    info.setdefault("sources", []).append(source)
                replies.append(text or answer.DONT_KNOW)
                confidence = min(confidence, conf)
                continue
            replies.append(self._say_result(spec, data, call.arguments))
        text = " ".join(replies) or answer.DONT_KNOW
        yield from self._say(text, confidence, info)

    @staticmethod
    def _say_result(spec: ToolSpec | None, data: Any, args: dict[str, Any]) -> str:
        if spec is not None and spec.say is not None:
            try:
                return spec.say(data, args)
            except Exception:  # a `say` that cannot read this result: say it plainly
                pass
        return answer.say_result(data)

    @staticmethod
    def _say_error(name: str, spec: ToolSpec | None, content: str, args: dict[str, Any], fallback: bool) -> str:
        msg = answer.clean_error(content)
        sentence = None
        if spec is not None and spec.say_error is not None:
            try:
                sentence = spec.say_error(msg, args)
            except Exception:
                sentence = None
        sentence = sentence or answer.say_error(name, msg)
        # a fallback that failed: the question stays unanswered, and the reply says why
        if not fallback:
            return sentence
        sentence = sentence.removeprefix("Sorry, ")
        return f"{answer.DONT_KNOW} {sentence[:1].upper()}{sentence[1:]}"

    def _extractive(
        self, question: str, found: tuple[list[dict[str, Any]], str]
    ) -> tuple[str | None, float, str | None]:
        """An answer sentence naming its source, its confidence and the source; (None,
        confidence, None) when no passage answers well enough."""
        passages, key = found
        # passages that carry a relevance (or score) must reach the threshold; others are kept
        passages = [p for p in passages if (r := answer.relevance(p)) is None or r >= self.answer_threshold]
        if not passages:
            return None, 0.0, None
        best = answer.best_sentence(question, passages, self.embedder, text_key=key)
        if best is None:
            return None, 0.0, None
        sentence, p, score = best
        if score < self.answer_threshold:
            return None, score, None
        where = str(p.get("source") or p.get("url") or "")
        src = answer.source_name(where, p.get("title"))
        return f"According to {src}: {answer.clean_sentence(sentence)}", score, where or None
