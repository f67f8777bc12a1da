"""Read attribute words from a voice request ("a cheerful young woman", "calm older man, low
voice") and score how well a voice's (given or estimated) attributes match them."""

from __future__ import annotations

import re
from typing import Any

_WORDS: dict[str, dict[str, set[str]]] = {
    "gender": {
        "female": {
            "woman",
            "women",
            "female",
            "girl",
            "lady",
            "ladies",
            "feminine",
            "she",
            "her",
            "mother",
            "grandmother",
            "grandma",
            "actress",
        },
        "male": {
            "man",
            "men",
            "male",
            "guy",
            "boy",
            "gentleman",
            "masculine",
            "he",
            "his",
            "father",
            "grandfather",
            "grandpa",
            "actor",
        },
    },
    "age_band": {
        "child": {"child", "kid", "kids", "children", "boy", "girl", "childlike"},
        "young": {"young", "youthful", "teen", "teenage", "teenager", "younger", "adolescent"},
        "adult": {"adult", "grown"},
        "middle-aged": {"middle-aged", "middle", "midlife"},
        "older": {
            "old",
            "older",
            "elderly",
            "senior",
            "aged",
            "grandfather",
            "grandmother",
            "grandpa",
            "grandma",
            "aging",
        },
    },
    "pitch": {
        "low": {"low", "deep", "bass", "baritone", "lower", "deeper", "low-pitched"},
        "high": {"high", "higher", "high-pitched", "squeaky", "soprano", "shrill"},
    },
    "pace": {
        "fast": {"fast", "quick", "rapid", "speedy", "brisk"},
        "slow": {"slow", "slowly", "measured", "leisurely", "unhurried"},
    },
}
_AGE_ORDER = ["child", "young", "adult", "middle-aged", "older"]


def parse_request(text: str) -> dict[str, str]:
    """{attribute: wanted value} for the attribute words found in the request."""
    tokens = set(re.findall(r"[a-z]+(?:-[a-z]+)*", text.lower()))
    found: dict[str, str] = {}
    for attr, values in _WORDS.items():
        hits = [v for v, words in values.items() if tokens & words]
        if attr == "age_band" and "child" in hits and len(hits) > 1:
            hits.remove("child")  # "young girl": young wins over the child reading of "girl"
        if len(hits) == 1:
            found[attr] = hits[0]
    return found


def attribute_match(wanted: dict[str, str], attrs: dict[str, Any]) -> float:
    """Mean match over the wanted attributes: 1 match, 0 mismatch, 0.5 unknown. An estimated
    gender counts in proportion to its confidence."""
    if not wanted:
        return 0.0
    total = 0.0
    for attr, want in wanted.items():
        have = attrs.get(attr)
        if have is None:
            total += 0.5
            continue
        if attr == "gender":
            conf = (
                1.0
                if attrs.get("gender_source") == "given"
                else float(attrs.get("gender_confidence") or 0.5)
            )
            conf = max(conf, 0.3)
            total += 0.5 + 0.5 * conf if have == want else 0.5 - 0.5 * conf
        elif attr == "age_band" and have in _AGE_ORDER:
            dist = abs(_AGE_ORDER.index(have) - _AGE_ORDER.index(want))
            total += max(0.0, 1.0 - 0.5 * dist)
        else:
            total += 1.0 if have == want else 0.0
    return total / len(wanted)


def describe(attrs: dict[str, Any]) -> str:
    """The text a voice is embedded as: its description, style, tags and attribute words, so
    that a voice without a description is still found by what was measured about it."""
    parts: list[str] = []
    if attrs.get("description"):
        parts.append(str(attrs["description"]).strip().rstrip(".") + ".")
    words: list[str] = []
    if attrs.get("style"):
        words.append(str(attrs["style"]))
    if attrs.get("age_band"):
        words.append(str(attrs["age_band"]))
    gender = attrs.get("gender")
    words.append(
        {"female": "female voice, a woman", "male": "male voice, a man"}.get(gender or "", "voice")
    )
    if attrs.get("pitch"):
        words.append(f"{attrs['pitch']} pitch")
    if attrs.get("pace"):
        words.append(f"{attrs['pace']} speaking rate")
    if attrs.get("language"):
        words.append(f"speaks {attrs['language']}")
    parts.append(", ".join(words) + ".")
    if attrs.get("tags"):
        parts.append("Tags: " + ", ".join(attrs["tags"]) + ".")
    return " ".join(parts)
