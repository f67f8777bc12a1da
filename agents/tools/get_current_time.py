"""get_current_time: the date and time in an IANA zone or at a place ("and in London?"
follows up with a new place)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from langchain_core.tools import BaseTool, ToolException

from agents.tools.base import error_sayer, standard_tool, to_json
from agents.tools.places import find_place
from model.policy import PreviousCall

NAME = "get_current_time"
DESCRIPTION = "Get the current date and time in a time zone or city."
EXAMPLES = [
    "what time is it", "what time is it in Tokyo", "tell me the time in London",
    "what's the current time in New York", "what's the date today", "what day is it",
    "current local time in Paris", "do you know what time it is in Sydney",
]  # fmt: skip
CUES = ["time", "clock", "hour", "hours", "date", "day", "o'clock", "today's date"]


def get_current_time(timezone: str | None = None, place: str | None = None) -> str:
    """Current date and time in an IANA time zone (e.g. Asia/Tokyo) or for a city."""
    zone_name = None
    if timezone:
        try:
            zoneinfo.ZoneInfo(timezone)
            zone_name = timezone
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            found = find_place(timezone)
            if not found:
                raise ToolException(f"unknown time zone or place: {timezone}") from None
            zone_name = found[1]
    elif place:
        found = find_place(place)
        if not found:
            raise ToolException(f"I don't know the time zone of {place}")
        zone_name = found[1]
    now = dt.datetime.now(zoneinfo.ZoneInfo(zone_name)) if zone_name else dt.datetime.now().astimezone()
    return to_json(
        {
            "timezone": zone_name or "local",
            "place": place,
            "iso": now.isoformat(timespec="seconds"),
            "time": now.strftime("%I:%M %p").lstrip("0"),
            "date": now.strftime("%A, %B %d").replace(" 0", " "),
            "utc_offset": now.strftime("%z"),
        }
    )


def parse(text: str, previous: PreviousCall | None = None) -> dict[str, Any] | None:
    """The place said (and its zone); no place: the local time."""
    place = find_place(text)
    return {"timezone": place[1], "place": place[0]} if place else {}


def say(result: Any, args: dict[str, Any]) -> str:
    if not isinstance(result, dict):
        return "I couldn't get the time."
    where = result.get("place") or args.get("place") or result.get("timezone")
    when = f"It's {result.get('time')} on {result.get('date')}"
    return f"{when} in {where}." if where and result.get("timezone") != "local" else when + "."


def make_tool() -> BaseTool:
    return standard_tool(
        get_current_time, NAME, DESCRIPTION,
        examples=EXAMPLES, cues=CUES, parse=parse, say=say, say_error=error_sayer("get the time"),
    )  # fmt: skip
