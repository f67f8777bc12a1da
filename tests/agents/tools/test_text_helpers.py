import pytest

from agents.tools.audio_search import voice_request
from agents.tools.numbers import words_to_numbers
from agents.tools.places import find_place
from agents.tools.spoken_math import spoken_arithmetic
from agents.tools.web_search import search_query


@pytest.mark.parametrize(
    "text,expr",
    [
        ("What is 17 times 23?", "17 * 23"),
        ("what is seventeen times twenty-three", "17 * 23"),
        ("What a 17 times 23.", "17 * 23"),
        ("calculate nine divided by three", "9 / 3"),
        ("what's the square root of 81", "sqrt(81)"),
        ("two to the power of ten", "2 ** 10"),
        ("subtract three from ten", "10 - 3"),
        ("multiply 6 by 7", "6 * 7"),
        ("how much is 12 x 12", "12 * 12"),
        ("what time is it", None),
    ],
)
def test_spoken_arithmetic(text, expr):
    assert spoken_arithmetic(text) == expr


def test_follow_up_arithmetic_continues_from_previous_result():
    assert spoken_arithmetic("and times two", previous_result=391) == "391 * 2"


def test_number_words():
    assert words_to_numbers("one hundred and five plus two point five") == "105 plus 2.5"


@pytest.mark.parametrize(
    "text,zone",
    [
        ("What time is it in Tokyo?", "Asia/Tokyo"),
        ("time in new york please", "America/New_York"),
        ("what's the time in São Paulo", "America/Sao_Paulo"),
        ("what time is it in Japan", "Asia/Tokyo"),
        ("and what about London", "Europe/London"),
        ("what time is it", None),
    ],
)
def test_places_map_to_iana_zones(text, zone):
    found = find_place(text)
    assert (found[1] if found else None) == zone


def test_search_query_and_voice_requests():
    assert search_query("Search the web for the latest news about Mars") == "the latest news about Mars"
    assert voice_request("use the voice called Ada") == {"name": "Ada"}
    assert voice_request("switch to a cheerful young woman") == {"description": "cheerful young woman"}
    assert voice_request("could you speak like a calm older man") == {"description": "calm older man"}
