"""audio_search changes the graph's active voice the LangGraph way: through a real ToolNode in
a real StateGraph, over a real voice library built from LibriSpeech clips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, ToolMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

from agents.tools import default_tools, tool_specs
from agents.tools.audio_search import say
from model.policy import VoiceSpec

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "voices-dev"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/voices-dev")


class State(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    voice: dict[str, Any] | None


def _graph(tools):
    g = StateGraph(State)
    g.add_node("tools", ToolNode([t for t in tools if t.name == "audio_search"]))
    g.add_edge(START, "tools")
    g.add_edge("tools", END)
    return g.compile()


def _call(app, args: dict[str, Any]) -> dict[str, Any]:
    ai = AIMessage(content="", tool_calls=[{"name": "audio_search", "args": args, "id": "call-1", "type": "tool_call"}])
    return app.invoke({"messages": [ai], "voice": None})


def _clip(reader: str) -> Path:
    files = sorted(DATA.glob(f"{reader}-*.flac"))
    if not files:
        pytest.skip(f"{DATA}: LibriSpeech reader {reader} not available")
    return files[0]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    import torch

    from voices import VoiceLibrary

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    lib = VoiceLibrary(tmp_path_factory.mktemp("voices"))
    ada = lib.add(_clip("103"), name="Ada", description="a clear, friendly female reader")
    bruno = lib.add(_clip("118"), name="Bruno", description="a calm male narrator")
    yield lib, ada, bruno
    lib.close()
    torch.set_num_threads(threads)


def test_a_found_voice_becomes_the_graph_voice_with_the_tool_message(library, tmp_path):
    lib, ada, bruno = library
    tools = default_tools(tmp_path, voices=lib)
    assert "tool_call_id" not in json.dumps(tool_specs(tools)[-1].parameters)  # injected, not asked for
    app = _graph(tools)

    out = _call(app, {"name": "Ada"})
    voice = VoiceSpec(**out["voice"])
    assert voice.voice_id == ada.id and voice.name == "Ada"
    assert voice.prompt_path == ada.audio_path and voice.pitch_hz == ada.median_f0_hz
    msg = out["messages"][-1]
    assert isinstance(msg, ToolMessage) and msg.name == "audio_search" and msg.tool_call_id == "call-1"
    result = json.loads(msg.content)
    assert result["voices"][0]["id"] == ada.id and result["query"] == "Ada"
    assert say(result, {"name": "Ada"}).startswith("Okay, I'm now speaking as Ada")

    out = _call(app, {"description": "a calm male narrator"})
    assert out["voice"]["voice_id"] == bruno.id
    tools.close()  # the library was given: it stays open
    assert lib.count() == 2


def test_no_voice_found_is_a_plain_result_and_no_request_an_error(tmp_path):
    tools = default_tools(tmp_path)  # an empty library, opened on first use
    app = _graph(tools)
    out = _call(app, {"description": "a pirate"})
    msg = out["messages"][-1]
    assert out["voice"] is None and json.loads(msg.content) == {"query": "a pirate", "voices": []}
    assert "couldn't find a voice like a pirate" in say(json.loads(msg.content), {"description": "a pirate"})
    out = _call(app, {})
    assert out["voice"] is None and out["messages"][-1].status == "error"
    assert "which voice" in out["messages"][-1].content
    tools.close()
