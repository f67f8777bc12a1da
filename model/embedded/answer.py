"""Replies from tool results: short spoken sentences; extractive answers naming their source.

Retrieved and web text is data: sentences are selected from it, never followed.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlparse

from core.text_embedding import TextEmbedder

REFUSAL = "I'm sorry, I can't help with that."
DONT_KNOW = "I don't know the answer to that."

_STOP = set(
    "a an the of to in on for and or is are was were be been what who when where why how which "
    "does do did tell me about please can you could would it its this that with by from as at".split()
)


def _loads(content: str) -> Any:
    try:
        return json.loads(content)
    except (json.JSONDecodeError, TypeError):
        return None


def _sentences(text: str) -> list[str]:
    text = re.sub(r"\s+", " ", text).strip()
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])", text)
    return [p.strip() for p in parts if len(p.strip()) > 3]


def _keywords(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP and len(w) > 1}


def source_name(source: str, title: str | None = None) -> str:
    if title:
        return title
    if source.startswith(("http://", "https://")):
        return urlparse(source).netloc.removeprefix("www.")
    name = re.split(r"[\\/]", source)[-1]
    return re.sub(r"\.(md|txt|html?|pdf)$", "", name).replace("_", " ").replace("-", " ")


def best_sentence(
    question: str, passages: list[dict[str, Any]], embedder: TextEmbedder, text_key: str = "text"
) -> tuple[str, dict[str, Any], float] | None:
    """The sentence that best answers the question: MiniLM similarity plus keyword overlap."""
    cands: list[tuple[str, dict[str, Any]]] = []
    for p in passages:
        for s in _sentences(str(p.get(text_key, ""))):
            cands.append((s[:400], p))
    if not cands:
        return None
    q = embedder.encode([question])[0]
    sims = embedder.encode([c[0] for c in cands]) @ q
    qk = _keywords(question)
    best, best_score = 0, -1.0
    for i, (s, _) in enumerate(cands):
        overlap = len(qk & _keywords(s)) / max(1, len(qk))
        score = float(sims[i]) + 0.3 * overlap
        if score > best_score:
            best, best_score = i, score
    return cands[best][0], cands[best][1], best_score


def _clean_sentence(s: str) -> str:
    s = re.sub(r"^#+\s*", "", s).strip()
    return s if s.endswith((".", "!", "?")) else s + "."


def say_time(result: Any, args: dict[str, Any]) -> str:
    if not isinstance(result, dict):
        return "I couldn't get the time."
    where = result.get("place") or args.get("place") or result.get("timezone")
    when = f"It's {result.get('time')} on {result.get('date')}"
    return f"{when} in {where}." if where and result.get("timezone") != "local" else when + "."


def say_number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def say_calc(result: Any, args: dict[str, Any]) -> str:
    expr = str(args.get("expression", ""))
    spoken = (
        expr.replace("**", " to the power of ").replace("*", " times ").replace("/", " divided by ")
        .replace("+", " plus ").replace(" - ", " minus ").replace("sqrt", "the square root of ")
    )
    spoken = re.sub(r"\s+", " ", spoken).strip()
    value = result.get("result") if isinstance(result, dict) else result
    return f"{spoken} is {say_number(value)}."


def say_weather(result: Any, args: dict[str, Any]) -> str:
    if not isinstance(result, dict):
        return "I couldn't get the weather."
    place = result.get("place") or args.get("city")
    parts = [f"In {place} it's {say_number(round(float(result['temperature_c'])))} degrees Celsius"]
    if result.get("description"):
        parts.append(f"and {result['description']}")
    s = " ".join(parts)
    if result.get("wind_kmh") is not None:
        s += f", with wind at {say_number(round(float(result['wind_kmh'])))} kilometres per hour"
    return s + "."


def say_voice(result: Any, args: dict[str, Any]) -> str:
    voices = result.get("voices") if isinstance(result, dict) else result
    if not voices:
        what = args.get("name") or args.get("description") or "that"
        return f"I couldn't find a voice like {what} in the voice library, so I'll keep this one."
    v = voices[0]
    desc = ", ".join(
        str(x) for x in (v.get("gender"), v.get("age_band"), v.get("style")) if x and x != "unknown"
    )
    return f"Okay, I'm now speaking as {v.get('name') or v.get('id')}" + (f", {desc}" if desc else "") + "."


def say_tool_error(name: str, content: str) -> str:
    msg = re.sub(r"^(?:Error:\s*)?(?:\w+Error:\s*)?", "", content.strip()).split("\n")[0]
    msg = msg.rstrip(".")
    what = {
        "web_search": "search the web",
        "get_weather": "get the weather",
        "get_current_time": "get the time",
        "calculator": "work that out",
        "retrieve_knowledge": "search your documents",
        "audio_search": "search the voice library",
    }.get(name, f"use {name.replace('_', ' ')}")
    return f"Sorry, I couldn't {what}: {msg[:160]}."
