"""Argument extraction from a transcript: place/time zone, arithmetic, search query, voice request.

Plain rules over the recognized text; each extractor returns None when its argument
is not there, so the router can tell "this tool, but no argument" from a match.
"""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from functools import lru_cache

# -- numbers ------------------------------------------------------------------
_UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {
    w: 10 * i
    for i, w in enumerate("_ _ twenty thirty forty fifty sixty seventy eighty ninety".split())
    if w != "_"
}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_NUMBER_WORDS = set(_UNITS) | set(_TENS) | set(_SCALES)


def words_to_numbers(text: str) -> str:
    """'seventeen times twenty three' -> '17 times 23'; 'two point five' -> '2.5'."""
    text = re.sub(r"(?<=[A-Za-z])-(?=[A-Za-z])", " ", text)  # twenty-three
    tokens = re.findall(r"[A-Za-z]+|\d+(?:[.,]\d+)*|[^\sA-Za-z\d]", text)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        t = tokens[i].lower()
        if t in _NUMBER_WORDS and not (t in _SCALES and not out):
            total, current, j = 0, 0, i
            while j < len(tokens):
                w = tokens[j].lower()
                if w in _UNITS:
                    current += _UNITS[w]
                elif w in _TENS:
                    current += _TENS[w]
                elif w == "hundred":
                    current = max(current, 1) * 100
                elif w in _SCALES:
                    total += max(current, 1) * _SCALES[w]
                    current = 0
                elif w == "and" and j + 1 < len(tokens) and tokens[j + 1].lower() in _NUMBER_WORDS:
                    pass
                else:
                    break
                j += 1
            value: str = str(total + current)
            # decimals: "two point five"
            if j + 1 < len(tokens) and tokens[j].lower() == "point" and tokens[j + 1].lower() in _UNITS:
                digits = []
                j += 1
                while j < len(tokens) and tokens[j].lower() in _UNITS:
                    digits.append(str(_UNITS[tokens[j].lower()]))
                    j += 1
                value += "." + "".join(digits)
            out.append(value)
            i = j
            continue
        out.append(tokens[i])
        i += 1
    text = " ".join(out)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,000 -> 1000
    text = re.sub(r"\s+([?.!,])", r"\1", text)
    return text


# -- arithmetic -----------------------------------------------------------------
_NUM = r"-?\d+(?:\.\d+)?"
_OPS = [
    (r"\bto the power of\b|\braised to(?: the power of)?\b|\*\*", " ^ "),
    (r"\bmultiplied by\b|\btimes\b|×|\*|(?<=\d)\s*x\s*(?=\d)", " * "),
    (r"\bdivided by\b|\bover\b|÷|/", " / "),
    (r"\bplus\b|\+", " + "),
    (r"\bminus\b|−|(?<=\d)\s+-\s+(?=\d)", " - "),
    (r"\bmodulo\b|\bmod\b", " % "),
]


# "add 5 and 7", "subtract 3 from 10", ...: the verb names the operator, the order of the
# numbers depends on the verb
_COMMANDS = [
    (rf"\badd\s+({_NUM})\s+(?:and|to)\s+({_NUM})", "{0} + {1}"),
    (rf"\bsubtract\s+({_NUM})\s+from\s+({_NUM})", "{1} - {0}"),
    (rf"\bmultiply\s+({_NUM})\s+(?:by|and|with)\s+({_NUM})", "{0} * {1}"),
    (rf"\bdivide\s+({_NUM})\s+by\s+({_NUM})", "{0} / {1}"),
]


def spoken_arithmetic(text: str, previous_result: float | None = None) -> str | None:
    """An arithmetic expression in the text, in the calculator's syntax, or None.

    Handles '17 times 23', 'what's 2 plus 2 times 3', 'square root of 81',
    '15 percent of 80', 'add 5 and 7', 'subtract 3 from 10', 'multiply 6 by 7',
    'divide 10 by 4', '5 squared'. A follow-up that starts with an operator
    ('times two', 'plus 9') continues from `previous_result`.
    """
    t = words_to_numbers(text.lower())
    t = t.replace("what's", "what is")
    for pattern, template in _COMMANDS:
        m = re.search(pattern, t)
        if m:
            return template.format(*m.groups())
    t = re.sub(rf"({_NUM})\s*(?:percent|%)\s+of\s+({_NUM})", r"(\1 / 100 * \2)", t)
    t = re.sub(rf"\b(?:the\s+)?square root of\s+({_NUM})", r"sqrt(\1)", t)
    t = re.sub(rf"({_NUM})\s+squared\b", r"\1 ^ 2", t)
    t = re.sub(rf"({_NUM})\s+cubed\b", r"\1 ^ 3", t)
    for pattern, op in _OPS:
        t = re.sub(pattern, op, t)
    # the longest run of numbers, operators, parentheses and sqrt(...)
    runs = re.findall(r"(?:sqrt\(|[\d.()+\-*/%^\s])+", t)
    best = None
    for r in runs:
        r = r.strip()
        if not re.search(r"\d", r):
            continue
        has_op = re.search(r"\d\s*[-+*/%^]|sqrt\(", r)
        if has_op and (best is None or len(r) > len(best)):
            best = r
    if best is not None:
        best = re.sub(r"\s+", " ", best).strip().rstrip("+-*/%^. ").replace("^", "**")
        if best.count("(") != best.count(")"):
            best = best.replace("(", "").replace(")", "") if "sqrt" not in best else best
        return best or None
    if previous_result is not None:
        m = re.match(r"\s*(?:and\s+|now\s+|then\s+)?([-+*/%]|\*\*)\s*(" + _NUM + r")", t)
        if m:
            prev = f"{previous_result:g}"
            return f"{prev} {m.group(1)} {m.group(2)}"
    return None


# -- places and time zones ------------------------------------------------------
_ALIASES = {
    "new york": "America/New_York", "nyc": "America/New_York", "washington": "America/New_York",
    "boston": "America/New_York", "miami": "America/New_York", "atlanta": "America/New_York",
    "san francisco": "America/Los_Angeles", "seattle": "America/Los_Angeles",
    "los angeles": "America/Los_Angeles", "la": "America/Los_Angeles",
    "silicon valley": "America/Los_Angeles", "las vegas": "America/Los_Angeles",
    "chicago": "America/Chicago", "dallas": "America/Chicago", "houston": "America/Chicago",
    "austin": "America/Chicago", "denver": "America/Denver", "phoenix": "America/Phoenix",
    "beijing": "Asia/Shanghai", "shenzhen": "Asia/Shanghai", "hangzhou": "Asia/Shanghai",
    "mumbai": "Asia/Kolkata", "delhi": "Asia/Kolkata", "new delhi": "Asia/Kolkata",
    "bangalore": "Asia/Kolkata", "bengaluru": "Asia/Kolkata", "osaka": "Asia/Tokyo",
    "kyoto": "Asia/Tokyo", "hanoi": "Asia/Bangkok", "ho chi minh city": "Asia/Ho_Chi_Minh",
    "sydney": "Australia/Sydney", "melbourne": "Australia/Melbourne", "munich": "Europe/Berlin",
    "frankfurt": "Europe/Berlin", "hamburg": "Europe/Berlin", "barcelona": "Europe/Madrid",
    "milan": "Europe/Rome", "venice": "Europe/Rome", "geneva": "Europe/Zurich",
    "edinburgh": "Europe/London", "manchester": "Europe/London", "st petersburg": "Europe/Moscow",
    "saint petersburg": "Europe/Moscow", "rio de janeiro": "America/Sao_Paulo",
    "rio": "America/Sao_Paulo", "montreal": "America/Toronto", "quebec": "America/Toronto",
    "honolulu": "Pacific/Honolulu", "hawaii": "Pacific/Honolulu", "tel aviv": "Asia/Jerusalem",
    "abu dhabi": "Asia/Dubai", "cape town": "Africa/Johannesburg", "auckland": "Pacific/Auckland",
    "wellington": "Pacific/Auckland", "reykjavik": "Atlantic/Reykjavik", "taipei": "Asia/Taipei",
    # countries
    "japan": "Asia/Tokyo", "china": "Asia/Shanghai", "india": "Asia/Kolkata",
    "france": "Europe/Paris", "germany": "Europe/Berlin", "spain": "Europe/Madrid",
    "italy": "Europe/Rome", "england": "Europe/London", "britain": "Europe/London",
    "the uk": "Europe/London", "uk": "Europe/London", "ireland": "Europe/Dublin",
    "russia": "Europe/Moscow", "brazil": "America/Sao_Paulo", "korea": "Asia/Seoul",
    "south korea": "Asia/Seoul", "australia": "Australia/Sydney", "egypt": "Africa/Cairo",
    "kenya": "Africa/Nairobi", "nigeria": "Africa/Lagos", "turkey": "Europe/Istanbul",
    "thailand": "Asia/Bangkok", "vietnam": "Asia/Ho_Chi_Minh", "singapore": "Asia/Singapore",
    "indonesia": "Asia/Jakarta", "philippines": "Asia/Manila", "mexico": "America/Mexico_City",
    "argentina": "America/Argentina/Buenos_Aires", "canada": "America/Toronto",
    "netherlands": "Europe/Amsterdam", "holland": "Europe/Amsterdam", "sweden": "Europe/Stockholm",
    "norway": "Europe/Oslo", "poland": "Europe/Warsaw", "greece": "Europe/Athens",
    "portugal": "Europe/Lisbon", "switzerland": "Europe/Zurich", "austria": "Europe/Vienna",
    "new zealand": "Pacific/Auckland", "iceland": "Atlantic/Reykjavik", "israel": "Asia/Jerusalem",
    "taiwan": "Asia/Taipei", "pakistan": "Asia/Karachi", "bangladesh": "Asia/Dhaka",
    # zone names people say
    "utc": "UTC", "gmt": "UTC", "greenwich": "Europe/London", "pacific time": "America/Los_Angeles",
    "eastern time": "America/New_York", "central time": "America/Chicago",
    "mountain time": "America/Denver",
}


@lru_cache(maxsize=1)
def place_index() -> dict[str, str]:
    """Lower-case place name -> IANA zone: every zone's city part plus common aliases."""
    idx: dict[str, str] = {}
    for zone in zoneinfo.available_timezones():
        if "/" not in zone or zone.startswith(("Etc/", "SystemV/", "US/")):
            continue
        city = zone.rsplit("/", 1)[1].replace("_", " ").lower()
        idx.setdefault(city, zone)
    idx.update(_ALIASES)
    return idx


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9 ]+", " ", text.lower().replace("'s", "")).strip()


def find_place(text: str) -> tuple[str, str] | None:
    """(place as said, IANA zone) for the longest known place name in the text."""
    words = _norm(text).split()
    idx = place_index()
    for n in (4, 3, 2, 1):
        for i in range(len(words) - n + 1):
            cand = " ".join(words[i : i + n])
            if cand in idx and cand not in _STOP_PLACES:
                return cand.title() if len(cand) > 3 else cand.upper(), idx[cand]
    # an IANA name said literally, e.g. "Asia/Tokyo"
    m = re.search(r"\b([A-Z][a-z]+/[A-Za-z_]+)\b", text)
    if m and m.group(1) in zoneinfo.available_timezones():
        return m.group(1).split("/")[1].replace("_", " "), m.group(1)
    return None


# short words that collide with zone city names
_STOP_PLACES = {"la", "time", "is", "it", "what", "now", "today", "here", "there"}


def place_after_preposition(text: str) -> str | None:
    """'weather in Porto Alegre tomorrow' -> 'Porto Alegre' (for places outside the index)."""
    m = re.search(
        r"\b(?:in|for|at|of)\s+((?:[A-Z][\w'-]*\s?){1,4})", text.strip().rstrip("?.!")
    )
    if m:
        place = m.group(1).strip()
        if place.lower() not in {"the", "a", "it"}:
            return place
    return None


# -- search queries and voice requests --------------------------------------------
_SEARCH_PREFIX = re.compile(
    r"^(?:please\s+|can you\s+|could you\s+|would you\s+)*"
    r"(?:search(?: the web| the internet| online)?(?: for)?|look up|google|find(?: me)?(?: information)?(?: about| on)?|"
    r"browse(?: the web)? for)\s+",
    re.I,
)


def search_query(text: str) -> str:
    q = text.strip().rstrip("?.!")
    q = _SEARCH_PREFIX.sub("", q)
    q = re.sub(r"\s+(?:on|in) the (?:web|internet)$|\s+online$", "", q, flags=re.I)
    return q.strip() or text.strip()


_VOICE_NAME = re.compile(
    r"\b(?:voice|speaker)\s+(?:called|named)\s+([\w'-]+(?:\s+[A-Z][\w'-]*)?)"
    r"|\b(?:use|switch to|change to)\s+([A-Z][\w'-]+)(?:'s)?\s+voice\b"
    r"|\bsound like\s+([A-Z][\w'-]+)\b",
)
_VOICE_PREFIX = re.compile(
    r"^(?:please\s+|can you\s+|could you\s+)*"
    r"(?:switch|change|set)(?: your| the)?(?: voice)?(?: to)?\s+|"
    r"^(?:please\s+|can you\s+|could you\s+)*(?:use|speak(?: in| with| like)?|talk(?: like| with)?|sound like)\s+",
    re.I,
)


def voice_request(text: str) -> dict[str, str] | None:
    """{'name': ...} for a voice asked for by name, else {'description': ...}."""
    t = text.strip().rstrip("?.!")
    m = _VOICE_NAME.search(t)
    if m:
        name = next(g for g in m.groups() if g)
        return {"name": name.strip().rstrip("'s")}
    t = re.sub(r"[,\s]*\bplease\b[,\s]*", " ", t, flags=re.I).strip()
    d = _VOICE_PREFIX.sub("", t)
    d = re.sub(r"^(?:your|the|my)\s+voice\b\s*(?:to\s+)?", "", d, flags=re.I)
    d = re.sub(r"^(?:a|an|the)\s+", "", d, flags=re.I)
    d = re.sub(r"\s+voice$", "", d, flags=re.I).strip()
    if not d or d.lower() in {"voice", "another voice", "a different voice", "different voice"}:
        return {"description": "a different voice"}
    return {"description": d}
