"""Places -> IANA time zones: every zoneinfo city, common aliases and countries; and a
place named after a preposition for places outside the index."""

from __future__ import annotations

import re
import unicodedata
import zoneinfo
from functools import lru_cache

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
