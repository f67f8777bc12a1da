"""The embedded policy routes and answers from what each tool carries: a developer's tool
defined in one place is routed by its own examples and cues, parsed by its own parser and
said with its own `say`; a tool without `say` still gets a sensible sentence."""

from __future__ import annotations

import json
import re

import pytest
from langchain_core.tools import tool

from agents.tools import default_tools, tool_specs
from model.embedded.policy import EmbeddedPolicy
from model.events import Done, TextDelta, ToolCall
from model.messages import Message, TextPart, ToolCallPart, ToolResultPart


@tool
def lights(room: str, on: bool = True) -> str:
    """Switch the lights on or off in a room of the house."""
    return json.dumps({"room": room, "on": on})


lights.metadata = {
    "examples": ["turn on the lights", "switch off the bedroom light", "lights on in the kitchen"],
    "cues": ["light", "lights", "lamp"],
    "parse": lambda text, previous: (
        {"room": m.group(1).lower(), "on": not re.search(r"\boff\b", text, re.I)}
        if (m := re.search(r"\b(kitchen|bedroom|bathroom|hall|living room)\b", text, re.I))
        else None
    ),
    "say": lambda r, args: f"The {r['room']} lights are {'on' if r['on'] else 'off'}.",
}


@tool
def play_music(artist: str) -> str:
    """Play music by an artist on the speakers."""
    return json.dumps({"status": f"Now playing {artist}", "queue": 12})


# no parser and no say: the argument comes from the schema, the sentence from the result
play_music.metadata = {
    "examples": ["play some music by Nina Simone", "put on songs by the Beatles"],
    "cues": ["play", "music", "song", "songs"],
}


@pytest.fixture(scope="module")
def policy():
    return EmbeddedPolicy()


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    return tool_specs([*default_tools(tmp_path_factory.mktemp("home")), lights, play_music])


def run(policy, specs, messages):
    return list(policy.stream(messages, specs))


def turn(question, name, args, content, is_error=False, history=()):
    call = ToolCallPart(name=name, arguments=args)
    return [
        *history,
        Message.user_text(question),
        Message(role="assistant", parts=[call]),
        Message(role="tool", parts=[ToolResultPart(call_id=call.id, name=name, content=content, is_error=is_error)]),
    ]


def said(events):
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_a_developer_tool_is_routed_parsed_and_said_by_what_it_carries(policy, specs):
    events = run(policy, specs, [Message.user_text("Please switch off the light in the bedroom.")])
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [(c.name, c.arguments) for c in calls] == [("lights", {"room": "bedroom", "on": False})]
    done = events[-1]
    assert isinstance(done, Done) and done.reason == "tool_calls" and done.info["route"]["name"] == "lights"
    result = lights.invoke(calls[0].arguments)
    reply = said(run(policy, specs, turn("switch off the bedroom light", "lights", calls[0].arguments, result)))
    assert reply == "The bedroom lights are off."


def test_a_developer_tool_without_parser_or_say_gets_its_value_and_a_sentence(policy, specs):
    events = run(policy, specs, [Message.user_text("Play some music by Miles Davis.")])
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert [(c.name, c.arguments) for c in calls] == [("play_music", {"artist": "Miles Davis"})]
    result = play_music.invoke(calls[0].arguments)
    assert said(run(policy, specs, turn("play Miles Davis", "play_music", calls[0].arguments, result))) == (
        "Now playing Miles Davis"
    )
    error = said(run(policy, specs, turn("play x", "play_music", {"artist": "x"}, "Error: speakers are off", True)))
    assert error == "Sorry, I couldn't use play music: speakers are off."


def test_follow_ups_reuse_the_previous_tool_with_the_previous_result(policy, specs):
    tokyo = turn("What time is it in Tokyo?", "get_current_time", {"timezone": "Asia/Tokyo", "place": "Tokyo"},
                 json.dumps({"timezone": "Asia/Tokyo", "time": "3:04 PM", "date": "Monday, May 4"}))
    events = run(policy, specs, [*tokyo, Message(role="assistant", parts=[TextPart(text="It's 3:04 PM.")]),
                                 Message.user_text("And what about London?")])
    call = next(e for e in events if isinstance(e, ToolCall))
    assert call.name == "get_current_time" and call.arguments["timezone"] == "Europe/London"
    calc = turn("What is 17 times 23?", "calculator", {"expression": "17 * 23"},
                json.dumps({"expression": "17 * 23", "result": 391}))
    events = run(policy, specs, [*calc, Message.user_text("times two")])
    call = next(e for e in events if isinstance(e, ToolCall))
    assert (call.name, call.arguments) == ("calculator", {"expression": "391 * 2"})


def test_unsure_documents_escalate_to_their_fallback_and_report_in_done_info(policy, specs):
    q = "What is the capital of Mongolia?"
    events = run(policy, specs, [Message.user_text(q)])
    assert next(e for e in events if isinstance(e, ToolCall)).name == "retrieve_knowledge"  # lookup order
    low = {"query": q, "passages": [{"source": "/d/garden.txt", "title": None, "text": "The club meets monthly.",
                                     "score": 0.1, "relevance": 0.1}]}
    first = turn(q, "retrieve_knowledge", {"query": q}, json.dumps(low))
    events = run(policy, specs, first)
    call = next(e for e in events if isinstance(e, ToolCall))
    assert call.name == "web_search" and "capital of Mongolia" in call.arguments["query"]
    assert events[-1].info["unsure"]["from"] == "retrieve_knowledge"
    web = {"query": q, "results": [{"title": "Mongolia - Wikipedia", "url": "https://en.wikipedia.org/wiki/Mongolia",
                                    "snippet": "Ulaanbaatar is the capital of Mongolia."}]}
    second = turn("", "web_search", call.arguments, json.dumps(web))[1:]
    events = run(policy, specs, first + second)
    assert said(events).startswith("According to Mongolia - Wikipedia:") and "Ulaanbaatar" in said(events)
    assert events[-1].info["sources"] == ["https://en.wikipedia.org/wiki/Mongolia"]
    offline = turn("", "web_search", call.arguments, "web search failed: no network", True)[1:]
    reply = said(run(policy, specs, first + offline))
    assert reply.startswith("I don't know") and "search the web" in reply
    assert not hasattr(policy, "last_info")


def test_a_passage_shaped_result_is_quoted_without_any_flag(policy):
    @tool
    def wiki(topic: str) -> str:
        """Look up an encyclopedia article."""
        return ""

    spec = tool_specs([wiki])
    hits = {"hits": [{"url": "https://example.org/ellis", "content": "Margaret Ellis founded the library in 1897."}]}
    reply = said(run(policy, spec, turn("Who founded the library?", "wiki", {"topic": "library"}, json.dumps(hits))))
    assert reply == "According to example.org: Margaret Ellis founded the library in 1897."
