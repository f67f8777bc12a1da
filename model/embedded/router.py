"""Routing by meaning: MiniLM similarity of the transcript to each tool's description and
example phrasings, plus argument extraction; built-in small-talk intents; follow-ups that
reuse the previous turn's tool with a new argument."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.text_embedding import TextEmbedder, get_text_embedder
from model.embedded import extract
from model.policy import ToolSpec

# Example phrasings for the standard tools, used when a ToolSpec carries none.
DEFAULT_EXAMPLES: dict[str, list[str]] = {
    "get_current_time": [
        "what time is it", "what time is it in Tokyo", "tell me the time in London",
        "what's the current time in New York", "what's the date today", "what day is it",
        "current local time in Paris", "do you know what time it is in Sydney",
    ],
    "calculator": [
        "what is 17 times 23", "calculate 45 plus 12", "what's 100 divided by 4",
        "how much is 12 times 12", "what is the square root of 81", "compute 2 to the power of 10",
        "what is 15 percent of 80", "add 5 and 7",
    ],
    "web_search": [
        "search the web for the latest news", "look up who won the game last night",
        "google the best pizza places", "find information online about electric cars",
        "what's in the news today", "search for reviews of the new phone",
    ],
    "get_weather": [
        "what's the weather like in Paris", "will it rain tomorrow in London",
        "how hot is it in Cairo", "weather forecast for Berlin", "is it cold outside in Chicago",
        "what's the temperature in Tokyo",
    ],
    "retrieve_knowledge": [
        "what does the documentation say about", "tell me about the project", "who invented it",
        "explain how this works", "what is the policy on", "according to my notes what is",
        "when was it founded", "how do I configure it",
    ],
    "audio_search": [
        "switch to a cheerful young woman's voice", "use the voice called Ada",
        "speak like a calm older man", "change your voice to a deep male voice",
        "can you sound like a British narrator", "find a voice that sounds happy",
        "talk in a different voice",
    ],
}

# Words that show up when people ask for a standard tool. A tool with a cue list gets a
# bonus when one is said and a penalty when none is (so "book a flight to Paris" does not
# reach the clock just because it names a city).
CUES: dict[str, re.Pattern[str]] = {
    name: re.compile(r"\b(?:" + "|".join(words) + r")\b", re.I)
    for name, words in {
        "get_current_time": ["time", "clock", "hour", "hours", "date", "day", "o'clock", "today's date"],
        "get_weather": ["weather", "rain", "raining", "snow", "snowing", "temperature", "hot", "cold",
                        "warm", "sunny", "forecast", "wind", "windy", "degrees", "humid", "umbrella"],
        "web_search": ["search", "look up", "lookup", "google", "internet", "web", "online", "news",
                       "latest"],
        "audio_search": ["voice", "voices", "sound like", "speak like", "talk like", "accent",
                         "narrator", "speak as", "sound as"],
        "calculator": ["plus", "minus", "times", "divided", "multiplied", "calculate", "compute",
                       "square root", "percent", "squared", "sum", "product"],
    }.items()
}
CUE_BONUS, CUE_PENALTY = 0.25, 0.15

# An explicit command names its tool whatever the topic ("search online for hiking trails").
EXPLICIT: dict[str, re.Pattern[str]] = {
    "web_search": re.compile(
        r"^(?:please\s+|can you\s+|could you\s+)*(?:search|google|look up|browse)\b"
        r"|\b(?:on|in|from) the (?:web|internet)\b|\bonline\b",
        re.I,
    ),
}

SMALL_TALK: dict[str, list[str]] = {
    "greeting": ["hello", "hi there", "good morning", "hey assistant"],
    "thanks": ["thank you", "thanks a lot", "that's great, thanks"],
    "capabilities": ["what can you do", "how can you help me", "what are you able to do"],
    "goodbye": ["goodbye", "bye for now", "see you later"],
    "repeat": ["say that again", "what did you say", "can you repeat that", "pardon"],
}

_QUESTION = re.compile(
    r"^(?:who|what|when|where|why|how|which|whose|is|are|was|were|does|do|did|tell me|explain|describe|define)\b",
    re.I,
)
_FOLLOW_UP = re.compile(r"^(?:and|what about|how about|and what about|also|now|then)\b", re.I)


@dataclass
class Route:
    kind: str  # "tool" | "small_talk" | "knowledge" | "refuse" | "clarify"
    name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)


@dataclass
class PreviousCall:
    name: str
    arguments: dict[str, Any]
    result: str


class Router:
    def __init__(self, embedder: TextEmbedder | None = None, threshold: float = 0.55) -> None:
        self.embedder = embedder or get_text_embedder()
        self.threshold = threshold

    def _phrases(self, tool: ToolSpec) -> list[str]:
        examples = list(tool.examples) or DEFAULT_EXAMPLES.get(tool.name, [])
        return [tool.description.split("\n")[0]] + examples

    def scores(self, text: str, tools: list[ToolSpec]) -> dict[str, float]:
        groups: dict[str, list[str]] = {f"tool:{t.name}": self._phrases(t) for t in tools}
        groups.update({f"talk:{k}": v for k, v in SMALL_TALK.items()})
        flat = [p for ps in groups.values() for p in ps]
        q = self.embedder.encode([text])[0]
        sims = self.embedder.encode(flat) @ q
        out, i = {}, 0
        for key, ps in groups.items():
            score = float(np.max(sims[i : i + len(ps)]))
            cue = CUES.get(key.removeprefix("tool:")) if key.startswith("tool:") else None
            if cue is not None:
                score += CUE_BONUS if cue.search(text) else -CUE_PENALTY
            out[key] = score
            i += len(ps)
        return out

    def route(self, text: str, tools: list[ToolSpec], previous: PreviousCall | None = None) -> Route:
        names = {t.name: t for t in tools}
        text = text.strip()
        if not text:
            return Route(kind="clarify", name="empty")
        scores = self.scores(text, tools)

        # a follow-up that changes only the argument of the previous tool
        if previous and previous.name in names and (_FOLLOW_UP.match(text) or len(text.split()) <= 4):
            args = self.arguments(previous.name, names[previous.name], text, previous)
            if args is not None and args != previous.arguments and args:
                return Route("tool", previous.name, args, 1.0, scores)

        for name, pattern in EXPLICIT.items():
            if name in names and pattern.search(text):
                scores[f"tool:{name}"] = max(scores.get(f"tool:{name}", 0.0), 0.75)
        # explicit arithmetic is a strong signal whatever the wording
        if "calculator" in names and extract.spoken_arithmetic(text):
            scores["tool:calculator"] = max(scores.get("tool:calculator", 0.0), 0.8)

        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        for key, score in ranked:
            if score < self.threshold:
                break
            kind, name = key.split(":", 1)
            if kind == "talk":
                return Route("small_talk", name, {}, score, scores)
            args = self.arguments(name, names[name], text, previous)
            if args is None:
                if name == "get_weather":
                    return Route("clarify", "weather_place", {}, score, scores)
                continue  # the tool fits but its argument is not in the request
            return Route("tool", name, args, score, scores)

        # look it up when unsure: an information question goes to the documents / the web
        if _QUESTION.match(text):
            for name in ("retrieve_knowledge", "web_search"):
                if name in names:
                    args = self.arguments(name, names[name], text, previous) or {"query": text}
                    return Route("tool", name, args, ranked[0][1] if ranked else 0.0, scores)
        return Route("refuse", "", {}, ranked[0][1] if ranked else 0.0, scores)

    # -- argument extraction per tool --------------------------------------------
    def arguments(
        self, name: str, tool: ToolSpec, text: str, previous: PreviousCall | None = None
    ) -> dict[str, Any] | None:
        props = (tool.parameters or {}).get("properties", {})
        if name == "get_current_time":
            place = extract.find_place(text)
            return {"timezone": place[1], "place": place[0]} if place else {}
        if name == "calculator":
            prev = None
            if previous and previous.name == "calculator":
                m = re.search(r"-?\d+(?:\.\d+)?", previous.result)
                prev = float(m.group(0)) if m else None
            expr = extract.spoken_arithmetic(text, prev)
            return {"expression": expr} if expr else None
        if name == "get_weather":
            place = extract.find_place(text)
            city = place[0] if place else extract.place_after_preposition(text)
            return {"city": city} if city else None
        if name == "web_search":
            return {"query": extract.search_query(text)}
        if name == "retrieve_knowledge":
            return {"query": text.strip().rstrip("?.!")}
        if name == "audio_search":
            return extract.voice_request(text)
        # a developer's tool: fill its single required string parameter with the request
        required = (tool.parameters or {}).get("required", [])
        strings = [k for k, v in props.items() if v.get("type") == "string"]
        if len(required) == 1 and required[0] in strings:
            return {required[0]: text}
        if not required:
            return {}
        return None
