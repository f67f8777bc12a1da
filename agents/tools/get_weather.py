"""get_weather: the current weather for a city (Open-Meteo geocoding + forecast over httpx,
with a timeout)."""

from __future__ import annotations

from typing import Any

import httpx
from langchain_core.tools import BaseTool, ToolException

from agents.tools.base import error_sayer, standard_tool, to_json
from agents.tools.places import find_place, place_after_preposition
from model.policy import PreviousCall
from model.speech import say_number

NAME = "get_weather"
DESCRIPTION = "Get the current weather for a city."
EXAMPLES = [
    "what's the weather like in Paris", "will it rain tomorrow in London",
    "how hot is it in Cairo", "weather forecast for Berlin", "is it cold outside in Chicago",
    "what's the temperature in Tokyo",
]  # fmt: skip
CUES = [
    "weather", "rain", "raining", "snow", "snowing", "temperature", "hot", "cold", "warm",
    "sunny", "forecast", "wind", "windy", "degrees", "humid", "umbrella",
]  # fmt: skip

_WMO = {
    0: "clear sky", 1: "mainly clear", 2: "partly cloudy", 3: "overcast", 45: "foggy",
    48: "foggy", 51: "light drizzle", 53: "drizzle", 55: "heavy drizzle", 61: "light rain",
    63: "rain", 65: "heavy rain", 71: "light snow", 73: "snow", 75: "heavy snow",
    80: "rain showers", 81: "rain showers", 82: "violent rain showers", 95: "thunderstorms",
    96: "thunderstorms with hail", 99: "thunderstorms with hail",
}  # fmt: skip

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
        return to_json(
            {
                "place": loc.get("name", city),
                "country": loc.get("country"),
                "temperature_c": cur.get("temperature_2m"),
                "wind_kmh": cur.get("wind_speed_10m"),
                "description": _WMO.get(int(cur.get("weather_code", -1)), None),
            }
        )

    return get_weather


def parse(text: str, previous: PreviousCall | None = None) -> dict[str, Any] | None:
    """A known place, else a capitalized place after 'in/for/at/of'; None without a place."""
    place = find_place(text)
    city = place[0] if place else place_after_preposition(text)
    return {"city": city} if city else None


def say(result: Any, args: dict[str, Any]) -> str:
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


def make_tool(timeout: float = 8.0, **urls: str) -> BaseTool:
    return standard_tool(
        make_get_weather(timeout, **urls), NAME, DESCRIPTION,
        examples=EXAMPLES, cues=CUES, parse=parse, say=say,
        say_error=error_sayer("get the weather"),
        clarify="Which city would you like the weather for?",
    )  # fmt: skip
