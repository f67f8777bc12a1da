"""The embedded offline policy: hear (faster-whisper), decide (route by meaning to a tool,
answer from its result, extract from retrieved passages, or say plainly it can't help),
speak (Piper). Runs with no network and no GPU from models that ship on PyPI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from core.text_embedding import TextEmbedder, get_text_embedder
from model.embedded import answer
from model.embedded.asr import WhisperASR
from model.embedded.router import PreviousCall, Router
from model.embedded.tts import PiperSpeaker
from model.events import Done, PolicyEvent, TextDelta, ToolCall, Transcript
from model.messages import AudioPart, Message, TextPart, ToolCallPart, ToolResultPart
from model.policy import CancelToken, ToolSpec, VoiceSpec

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
        **_: Any,
    ) -> None:
        self.embedder = embedder or get_text_embedder()
        self.router = Router(self.embedder, threshold=route_threshold)
        self.answer_threshold = answer_threshold
        self.asr = asr or WhisperASR()
        self._speaker: PiperSpeaker | None = None
        self.last_info: dict[str, Any] = {}

    def speaker(self) -> PiperSpeaker:
        if self._speaker is None:
            self._speaker = PiperSpeaker()
        return self._speaker

    # -- hearing -------------------------------------------------------------
    def transcribe(self, part: AudioPart) -> str:
        return self.asr.transcribe_file(part.path)

    # -- the policy ------------------------------------------------------------
    def stream(
        self,
        messages: list[Message],
        tools: list[ToolSpec],
        *,
        voice: VoiceSpec | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[PolicyEvent]:
        self.last_info = {}
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
        self.last_info["route"] = {"kind": route.kind, "name": route.name, "score": round(route.score, 3)}
        if route.kind == "tool":
            yield ToolCall(id=ToolCallPart(name=route.name).id, name=route.name, arguments=route.arguments)
            yield Done(reason="tool_calls", confidence=route.score)
        elif route.kind == "small_talk":
            if route.name == "repeat":
                last = next((m.text for m in reversed(messages[:ui]) if m.role == "assistant" and m.text), None)
                yield from self._say(last or "I haven't said anything yet.", route.score)
            else:
                yield from self._say(SMALL_TALK_REPLIES[route.name], route.score)
        elif route.kind == "clarify":
            text = (
                "Which city would you like the weather for?"
                if route.name == "weather_place"
                else "Sorry, I didn't catch that. Could you say it again?"
            )
            yield from self._say(text, route.score)
        else:
            yield from self._say(answer.REFUSAL, route.score)

    def _say(self, text: str, confidence: float) -> Iterator[PolicyEvent]:
        yield TextDelta(text=text)
        yield Done(reason="stop", confidence=confidence)

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
                return PreviousCall(call.name, call.arguments, result)
        return None

    def _after_tools(self, question: str, after: list[Message], tools: list[ToolSpec]) -> Iterator[PolicyEvent]:
        called = {c.name for m in after if m.role == "assistant" for c in m.tool_calls}
        last_call_msg = next(m for m in reversed(after) if m.role == "assistant" and m.tool_calls)
        results = {r.call_id: r for m in after for r in m.parts_of(ToolResultPart)}
        names = {t.name for t in tools}
        replies: list[str] = []
        confidence = 1.0
        for call in last_call_msg.tool_calls:
            r = results.get(call.id)
            if r is None:
                continue
            if r.is_error:
                if call.name == "web_search" and "retrieve_knowledge" in called:
                    replies.append(answer.DONT_KNOW + " I couldn't reach the web to look it up.")
                    confidence = 0.0
                else:
                    replies.append(answer.say_tool_error(call.name, r.content))
                continue
            data = answer._loads(r.content)
            if call.name == "get_current_time":
                replies.append(answer.say_time(data, call.arguments))
            elif call.name == "calculator":
                replies.append(answer.say_calc(data, call.arguments))
            elif call.name == "get_weather":
                replies.append(answer.say_weather(data, call.arguments))
            elif call.name == "audio_search":
                replies.append(answer.say_voice(data, call.arguments))
            elif call.name in ("retrieve_knowledge", "web_search"):
                text, conf = self._extractive(question, call.name, data)
                if text is None and call.name == "retrieve_knowledge" and "web_search" in names and "web_search" not in called:
                    # not sure from the documents: look it up on the web
                    self.last_info["unsure"] = {"from": "retrieve_knowledge", "confidence": round(conf, 3)}
                    yield ToolCall(id=ToolCallPart(name="web_search").id, name="web_search", arguments={"query": question})
                    yield Done(reason="tool_calls", confidence=conf)
                    return
                replies.append(text or answer.DONT_KNOW)
                confidence = min(confidence, conf)
            else:
                content = r.content.strip()
                replies.append(content if len(content) < 300 else content[:300] + "...")
        text = " ".join(replies) or answer.DONT_KNOW
        yield from self._say(text, confidence)

    def _extractive(self, question: str, tool: str, data: Any) -> tuple[str | None, float]:
        """An answer sentence with its source, or (None, confidence) when unsure."""
        if tool == "retrieve_knowledge":
            passages = (data or {}).get("passages", []) if isinstance(data, dict) else []
            passages = [p for p in passages if float(p.get("relevance", p.get("score", 0))) >= self.answer_threshold]
            key = "text"
        else:
            passages = (data or {}).get("results", []) if isinstance(data, dict) else (data or [])
            key = "snippet"
        if not passages:
            return None, 0.0
        found = answer.best_sentence(question, passages, self.embedder, text_key=key)
        if found is None:
            return None, 0.0
        sentence, p, score = found
        if score < self.answer_threshold:
            return None, score
        src = answer.source_name(str(p.get("source") or p.get("url") or ""), p.get("title"))
        self.last_info["sources"] = [p.get("source") or p.get("url")]
        return f"According to {src}: {answer._clean_sentence(sentence)}", score


def tool_result_json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


__all__ = ["EmbeddedPolicy", "TextPart"]
