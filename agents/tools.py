"""The standard tools, as langchain-core tools. Each returns JSON text; failures raise
ToolException with a one-line reason, which the tools node turns into an error result that
the policy speaks. Example phrasings in `metadata["examples"]` help the embedded router."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from pathlib import Path
from typing import Any

import httpx
from langchain_core.tools import BaseTool, StructuredTool, ToolException

from agents.calculator import CalculatorError, evaluate
from model.embedded import extract
from model.embedded.router import DEFAULT_EXAMPLES
from model.policy import ToolSpec, VoiceSpec


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def _tool(func, name: str, description: str) -> BaseTool:
    return StructuredTool.from_function(
        func=func,
        name=name,
        description=description,
        handle_tool_error=lambda e: str(e),
        metadata={"examples": DEFAULT_EXAMPLES.get(name, [])},
    )


# -- time ----------------------------------------------------------------------
def get_current_time(timezone: str | None = None, place: str | None = None) -> str:
    """Current date and time in an IANA time zone (e.g. Asia/Tokyo) or for a city."""
    zone_name = None
    if timezone:
        try:
            zoneinfo.ZoneInfo(timezone)
            zone_name = timezone
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            found = extract.find_place(timezone)
            if not found:
                raise ToolException(f"unknown time zone or place: {timezone}") from None
            zone_name = found[1]
    elif place:
        found = extract.find_place(place)
        if not found:
            raise ToolException(f"I don't know the time zone of {place}")
        zone_name = found[1]
    now = dt.datetime.now(zoneinfo.ZoneInfo(zone_name)) if zone_name else dt.datetime.now().astimezone()
    return _json(
        {
            "timezone": zone_name or "local",
            "place": place,
            "iso": now.isoformat(timespec="seconds"),
            "time": now.strftime("%I:%M %p").lstrip("0"),
            "date": now.strftime("%A, %B %d").replace(" 0", " "),
            "utc_offset": now.strftime("%z"),
        }
    )


# -- arithmetic ------------------------------------------------------------------
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression (+ - * / ** %, parentheses, sqrt) safely."""
    try:
        value = evaluate(expression)
    except CalculatorError as e:
        raise ToolException(str(e)) from None
    return _json({"expression": expression, "result": value})


# -- weather -----------------------------------------------------------------------
_WMO = {
    0: "clear sky", 1: "mainly clear", 2: "partly cloudy", 3: "overcast", 45: "foggy",
    48: "foggy", 51: "light drizzle", 53: "drizzle", 55: "heavy drizzle", 61: "light rain",
    63: "rain", 65: "heavy rain", 71: "light snow", 73: "snow", 75: "heavy snow",
    80: "rain showers", 81: "rain showers", 82: "violent rain showers", 95: "thunderstorms",
    96: "thunderstorms with hail", 99: "thunderstorms with hail",
}


GEOCODE_URL = "https://geocoding-api.open-meteo.com/v1/search"
FORECAST_URL = "https://api.open-meteo.com/v1/forecast"


def make_get_weather(timeout: float = 8.0, geocode_url: str = GEOCODE_URL, forecast_url: str = FORECAST_URL):
    def get_weather(city: str) -> str:
        """Current weather for a city (Open-Meteo)."""
        try:
            with httpx.Client(timeout=timeout) as client:
                geo = client.get(
                    geocode_url,
                    params={"name": city, "count": 1, "language": "en"},
                ).json()
                if not geo.get("results"):
                    raise ToolException(f"I couldn't find a place called {city}")
                loc = geo["results"][0]
                cur = client.get(
                    forecast_url,
                    params={
                        "latitude": loc["latitude"],
                        "longitude": loc["longitude"],
                        "current": "temperature_2m,wind_speed_10m,weather_code",
                    },
                ).json()["current"]
        except ToolException:
            raise
        except httpx.TimeoutException:
            raise ToolException("the weather service did not answer in time") from None
        except httpx.HTTPError:
            raise ToolException("the weather service is unreachable (no network connection)") from None
        except (ValueError, KeyError):
            raise ToolException("the weather service sent an answer I could not read") from None
        return _json(
            {
                "place": loc.get("name", city),
                "country": loc.get("country"),
                "temperature_c": cur.get("temperature_2m"),
                "wind_kmh": cur.get("wind_speed_10m"),
                "description": _WMO.get(int(cur.get("weather_code", -1)), None),
            }
        )

    return get_weather


# -- web search ----------------------------------------------------------------------
def make_web_search(timeout: float = 8.0):
    def web_search(query: str) -> str:
        """Search the web (DuckDuckGo) and return cleaned results with their URLs."""
        from retrieval import WebSearchError
        from retrieval import web_search as search

        try:
            results = search(query, max_results=5, timeout=timeout)
        except WebSearchError as e:
            raise ToolException(str(e)) from None
        return _json(
            {"query": query, "results": [r.model_dump() if hasattr(r, "model_dump") else dict(r) for r in results]}
        )

    return web_search


# -- documents -------------------------------------------------------------------------
def make_retrieve_knowledge(corpora_dir: Path, top_k: int = 4):
    def retrieve_knowledge(query: str) -> str:
        """Search the user's documents (ingested corpora) for passages about the query."""
        from retrieval import CorpusStore, sanitize_passage_text

        store = CorpusStore(corpora_dir)
        if store.is_empty():
            return _json({"query": query, "passages": [], "note": "no documents have been added"})
        hits = store.search(query, top_k=top_k)
        return _json(
            {
                "query": query,
                "passages": [
                    {
                        "source": h.source,
                        "title": h.title,
                        "section": h.section,
                        "text": sanitize_passage_text(h.text),
                        "score": round(float(h.score), 4),
                        "relevance": round(float(h.relevance), 4),
                    }
                    for h in hits
                ],
            }
        )

    return retrieve_knowledge


# -- voices ------------------------------------------------------------------------------
def voice_hit_dict(hit: Any) -> dict[str, Any]:
    attrs = dict(getattr(hit, "attributes", {}) or {})
    return {"id": hit.id, "name": hit.name, "score": round(float(hit.score), 4), **attrs}


def make_audio_search(voices_dir: Path, top_k: int = 3):
    def audio_search(description: str | None = None, name: str | None = None) -> str:
        """Find voices in the voice library by name or by description (timbre, style, gender, age)."""
        from voices import VoiceLibrary

        if not description and not name:
            raise ToolException("say which voice: a name or a description")
        lib = VoiceLibrary(voices_dir)
        if name:
            v = lib.find_by_name(name)
            if v is not None:
                hits = [{"id": v.id, "name": v.name, "score": 1.0, **_voice_attrs(v)}]
                return _json({"query": name, "voices": hits})
            if not description:
                description = name
        hits = [voice_hit_dict(h) for h in lib.search(text=description, top_k=top_k)]
        return _json({"query": description, "voices": hits})

    return audio_search


def _voice_attrs(v: Any) -> dict[str, Any]:
    d = v.model_dump() if hasattr(v, "model_dump") else dict(v)
    d.pop("id", None)
    d.pop("name", None)
    return {k: (str(x) if isinstance(x, Path | dt.datetime) else x) for k, x in d.items()}


def default_tools(home: Path, timeout: float = 8.0) -> list[BaseTool]:
    """The standard tool set, bound to a STEPVOX_HOME."""
    return [
        _tool(get_current_time, "get_current_time",
              "Get the current date and time in a time zone or city."),
        _tool(calculator, "calculator", "Do arithmetic: evaluate a math expression."),
        _tool(make_web_search(timeout), "web_search", "Search the web for current information."),
        _tool(make_get_weather(timeout), "get_weather", "Get the current weather for a city."),
        _tool(make_retrieve_knowledge(home / "corpora"), "retrieve_knowledge",
              "Look up facts in the user's own documents."),
        _tool(make_audio_search(home / "voices"), "audio_search",
              "Find a voice in the voice library to change how the assistant sounds."),
    ]


def tool_specs(tools: list[BaseTool]) -> list[ToolSpec]:
    from langchain_core.utils.function_calling import convert_to_openai_tool

    specs = []
    for t in tools:
        fn = convert_to_openai_tool(t)["function"]
        specs.append(ToolSpec(name=fn["name"], description=fn.get("description", ""),
                              parameters=fn.get("parameters", {}),
                              examples=list((t.metadata or {}).get("examples", []))))
    return specs


def voice_spec_from_attrs(v: dict[str, Any]) -> VoiceSpec:
    keep = ("gender", "age_band", "style", "description", "language", "tags")
    return VoiceSpec(
        voice_id=str(v.get("id")),
        name=v.get("name"),
        prompt_path=v.get("audio_path"),
        pitch_hz=v.get("median_f0_hz"),
        speaking_rate=v.get("speaking_rate"),
        attributes={k: v[k] for k in keep if v.get(k) is not None},
    )
