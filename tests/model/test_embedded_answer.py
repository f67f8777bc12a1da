"""The embedded policy's generic pieces: a spoken sentence for any tool result, passages
found by shape, and arguments from a schema for tools without a parser."""

from __future__ import annotations

import pytest

from model.embedded.answer import clean_error, passages, say_result
from model.embedded.router import schema_arguments


@pytest.mark.parametrize(
    "result,spoken",
    [
        ("The kitchen lights are now on.", "The kitchen lights are now on."),
        ({"status": "Now playing Miles Davis", "queue": 12}, "Now playing Miles Davis"),
        ({"result": 42}, "The result is 42."),
        ({"room": "kitchen", "brightness_pct": 80.0, "on": True}, "The room is kitchen, the brightness pct is 80, the on is yes."),
        (["red", "green", "blue"], "Red, green and blue."),
        ([{"answer": "first"}, {"answer": "second"}], "I found 2. The first: first"),
        (7.25, "7.25."),
        ("", "Done."),
        ([], "I found nothing."),
    ],
)
def test_a_result_without_its_own_say_gets_a_sentence(result, spoken):
    assert say_result(result) == spoken


def test_long_text_is_cut_to_its_first_sentence():
    text = "The report is ready. " + "It has many details that nobody wants read aloud. " * 20
    assert say_result(text) == "The report is ready."
    assert say_result({"summary": text}) == "The report is ready."


def test_passages_are_found_by_shape():
    ps, key = passages({"query": "q", "results": [{"url": "u", "snippet": "s"}]})
    assert key == "snippet" and ps[0]["url"] == "u"
    assert passages([{"source": "a", "text": "b"}])[1] == "text"
    assert passages({"passages": [], "note": "no documents"}) == ([], "text")
    assert passages({"room": "kitchen"}) is None and passages([{"id": 1}]) is None
    assert clean_error("Error: ToolException: the web is unreachable.\nTraceback") == "the web is unreachable"


def _schema(**props):
    return {"properties": props, "required": list(props)[:1]}


def test_arguments_from_the_schema_of_a_tool_without_a_parser():
    s = {"type": "string"}
    assert schema_arguments(_schema(request=s), "Please turn on the lights in the kitchen.") == {
        "request": "Please turn on the lights in the kitchen"
    }
    assert schema_arguments(_schema(room=s), "Please turn on the lights in the kitchen.") == {"room": "kitchen"}
    assert schema_arguments(_schema(artist=s), "play some music by Miles Davis") == {"artist": "Miles Davis"}
    assert schema_arguments(_schema(mode={"type": "string", "enum": ["eco", "boost"]}), "switch to boost mode") == {
        "mode": "boost"
    }
    assert schema_arguments(_schema(level={"type": "integer"}), "set the volume to 7") == {"level": 7}
    assert schema_arguments(_schema(level={"type": "integer"}), "louder please") is None
    assert schema_arguments({"properties": {}}, "anything") == {}
    assert schema_arguments({"properties": {"a": s, "b": s}, "required": ["a", "b"]}, "x") is None
