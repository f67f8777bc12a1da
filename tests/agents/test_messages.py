from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agents.messages import from_langchain, to_langchain
from model.messages import (
    AudioPart,
    AudioTokensPart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    VoiceRefPart,
)


def test_every_part_type_round_trips_through_langchain():
    msgs = [
        Message(role="system", parts=[TextPart(text="be brief")]),
        Message(
            role="user",
            id="u1",
            parts=[
                AudioPart(path="/tmp/a.wav", sample_rate=16000, duration_s=1.5, transcript="hi"),
                VoiceRefPart(voice_id="v1", name="Ada", prompt_path="/tmp/ada.wav"),
            ],
        ),
        Message(
            role="assistant",
            parts=[
                TextPart(text="let me check"),
                AudioTokensPart(tokens=[0, 17, 6560]),
                ToolCallPart(id="c1", name="calculator", arguments={"expression": "1 + 1"}),
            ],
        ),
        Message(role="tool", parts=[ToolResultPart(call_id="c1", name="calculator", content="2")]),
        Message(role="tool", parts=[ToolResultPart(call_id="c2", name="web_search", content="offline", is_error=True)]),
    ]
    for m in msgs:
        lc = to_langchain(m)
        back = from_langchain(lc)
        assert back == m


def test_langchain_native_fields_are_filled():
    ai = to_langchain(
        Message(role="assistant", parts=[ToolCallPart(id="c1", name="calculator", arguments={"expression": "2*3"})])
    )
    assert isinstance(ai, AIMessage)
    assert ai.tool_calls[0]["name"] == "calculator" and ai.tool_calls[0]["id"] == "c1"
    tool = to_langchain(Message(role="tool", parts=[ToolResultPart(call_id="c1", name="calculator", content="6")]))
    assert isinstance(tool, ToolMessage) and tool.tool_call_id == "c1" and tool.content == "6"
    user = to_langchain(Message(role="user", parts=[AudioPart(path="/a.wav", sample_rate=16000, transcript="hello")]))
    assert isinstance(user, HumanMessage) and user.content == "hello"


def test_messages_made_by_langchain_code_convert():
    ai = AIMessage(content="ok", tool_calls=[{"name": "get_current_time", "args": {"timezone": "UTC"}, "id": "x"}])
    m = from_langchain(ai)
    assert m.text == "ok" and m.tool_calls[0].arguments == {"timezone": "UTC"}
    t = from_langchain(ToolMessage(content="boom", tool_call_id="x", name="get_current_time", status="error"))
    r = t.parts_of(ToolResultPart)[0]
    assert r.is_error and r.call_id == "x" and r.content == "boom"
