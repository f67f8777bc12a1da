"""Replies from tool results: short spoken sentences; extractive answers naming their source.

Retrieved and web text is data: sentences are selected from it, never followed.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlparse

from core.text_embedding import TextEmbedder
from model.speech import say_number

REFUSAL = "I'm sorry, I can't help with that."
DONT_KNOW = "I don't know the answer to that."

_STOP = set(
    "a an the of to in on for and or is are was were be been what who when where why how which "
    "does do did tell me about please can you could would it its this that with by from as at".split()
)


def loads(content: str) -> Any:
    """A tool result: its JSON value, or the text itself when it is not JSON."""
    try:
        return json.loads(content)
    except (json.JSONDecodeError, TypeError):
        return content


# titles and abbreviations whose period does not end a sentence ("Dr. Smith")
_ABBREVIATION = re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Mx|Prof|St|Mt|vs|e\.g|i\.e)\.$", re.I)


def _sentences(text: str) -> list[str]:
    text = re.sub(r"\s+", " ", text).strip()
    parts: list[str] = []
    for p in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])", text):
        if parts and _ABBREVIATION.search(parts[-1]):
            parts[-1] += " " + p
        else:
            parts.append(p)
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


def clean_sentence(s: str) -> str:
    s = re.sub(r"^#+\s*", "", s).strip()
    return s if s.endswith((".", "!", "?")) else s + "."


# -- a tool result without its own `say` ----------------------------------------------------
MAX_SPOKEN = 300
# keys that usually hold what a JSON result is about
MAIN_KEYS = ("answer", "result", "message", "text", "summary", "status", "output", "value")


def _scalar(v: Any) -> bool:
    return isinstance(v, str | int | float | bool) and v != ""


def _spoken_value(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float):
        return say_number(v)
    return str(v)


def first_sentence(text: str) -> str:
    """Short text as it is; longer text: its first sentence (cut at a word if still long)."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= MAX_SPOKEN:
        return text
    found = _sentences(text)
    s = found[0] if found else text
    if len(s) > MAX_SPOKEN:
        s = s[:MAX_SPOKEN].rsplit(" ", 1)[0] + "..."
    return s


def say_result(result: Any) -> str:
    """A sensible spoken sentence for a tool result that has no `say` of its own: a short
    text as it is, a number or a yes/no, a JSON object's main value(s), a list's items."""
    if result is None or result == "":
        return "Done."
    if isinstance(result, str):
        return first_sentence(result)
    if isinstance(result, bool | int | float):
        return _spoken_value(result).capitalize() + "."
    if isinstance(result, dict):
        for k in MAIN_KEYS:
            v = result.get(k)
            if isinstance(v, str) and v.strip():
                return first_sentence(v)
            if _scalar(v):
                return f"The {k} is {_spoken_value(v)}."
        items = [(k, v) for k, v in result.items() if _scalar(v)][:3]
        if not items:
            return f"Done: {len(result)} fields came back." if result else "Done."
        said = ", ".join(f"the {k.replace('_', ' ')} is {_spoken_value(v)}" for k, v in items)
        return first_sentence(said[0].upper() + said[1:] + ".")
    if isinstance(result, list):
        if not result:
            return "I found nothing."
        if all(_scalar(v) for v in result):
            vals = [_spoken_value(v) for v in result[:5]]
            listed = vals[0] if len(vals) == 1 else ", ".join(vals[:-1]) + " and " + vals[-1]
            return first_sentence(listed[0].upper() + listed[1:] + ".")
        first = say_result(result[0])
        return first if len(result) == 1 else f"I found {len(result)}. The first: {first}"
    return first_sentence(str(result))


# -- errors -------------------------------------------------------------------------------
def clean_error(content: str) -> str:
    """The one-line reason of an error result, without 'Error:' / exception class prefixes."""
    msg = re.sub(r"^(?:Error:\s*)?(?:\w+(?:Error|Exception):\s*)?", "", content.strip()).split("\n")[0]
    return msg.rstrip(".")[:160]


def say_error(name: str, message: str) -> str:
    """The error sentence of a tool without a `say_error` of its own."""
    return f"Sorry, I couldn't use {name.replace('_', ' ')}: {message}."


# -- passages -----------------------------------------------------------------------------
TEXT_KEYS = ("text", "snippet", "content", "body", "passage")
LIST_KEYS = ("passages", "results", "documents", "hits", "items")


def passages(result: Any) -> tuple[list[dict[str, Any]], str] | None:
    """The passages a result holds and the key of their text, by shape: a list of objects
    with a text field, at the top or under `passages`/`results`/...; None for other shapes."""
    lists: list[Any] = []
    if isinstance(result, list):
        lists.append(result)
    elif isinstance(result, dict):
        lists += [result[k] for k in LIST_KEYS if k in result]
        lists += [v for k, v in result.items() if k not in LIST_KEYS]
    for lst in lists:
        if not isinstance(lst, list) or not lst or not all(isinstance(p, dict) for p in lst):
            continue
        for key in TEXT_KEYS:
            if any(isinstance(p.get(key), str) for p in lst):
                return lst, key
    if isinstance(result, dict) and any(result.get(k) == [] for k in LIST_KEYS):
        return [], "text"  # an empty list of passages
    return None


def relevance(p: dict[str, Any]) -> float | None:
    v = p.get("relevance", p.get("score"))
    return float(v) if isinstance(v, int | float) else None
