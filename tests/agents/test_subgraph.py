"""The stepvox graph as a sub-graph of a developer's app (real graph, real checkpointer): it
runs under the app's own run context, and a tool that needs approval pauses the whole app
until the app resumes it."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.messages import ToolMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph
from langgraph.types import Command

from agents import AgentState, build_graph
from agents.approval import waiting_of
from agents.messages import to_langchain
from agents.tools import calculator
from agents.tools.base import standard_tool
from model.embedded.policy import EmbeddedPolicy
from model.events import TextDelta, ToolResult
from model.messages import Message, TextPart

SENT: list[str] = []


def send_email(to: str) -> str:
    """Send an email to a contact."""
    SENT.append(to)
    return f'{{"sent_to": "{to}"}}'


@dataclass
class AppContext:  # the app's own context: no `cancel`, no `audio_dir`
    user: str


def user(text: str):
    return {"messages": [to_langchain(Message(role="user", parts=[TextPart(text=text)]))]}


def test_an_app_runs_the_stepvox_graph_as_a_node_with_its_context_and_approvals():
    email = standard_tool(
        send_email, "send_email", "Send an email to a contact.",
        examples=["send an email to Ada", "email Bob"], cues=["email", "mail"],
        parse=lambda text, prev: {"to": text.split()[-1].strip(".?!")},
        say=lambda result, args: f"I sent the email to {result['sent_to']}.", approval=True,
    )  # fmt: skip
    stepvox = build_graph(EmbeddedPolicy(), [calculator.make_tool(), email])
    app = StateGraph(AgentState, context_schema=AppContext)
    app.add_node("stepvox", stepvox)
    app.add_edge(START, "stepvox")
    graph = app.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "app"}}

    def run(value, context):
        return [ev for _ns, ev in graph.stream(value, config, context=context,
                                               stream_mode="custom", subgraphs=True)]

    events = run(user("what is 6 times 7"), AppContext("ada"))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "6 times 7 is 42."

    SENT.clear()
    run(user("send an email to Ada"), {"user": "ada"})  # a dict context works too
    waiting = waiting_of(graph.get_state(config).interrupts)  # the pause reached the app
    assert waiting is not None and waiting.calls[0].arguments == {"to": "Ada"} and SENT == []
    events = run(Command(resume=True), AppContext("ada"))
    assert SENT == ["Ada"] and any(isinstance(e, ToolResult) for e in events)
    values = graph.get_state(config).values
    assert values["messages"][-1].content == "I sent the email to Ada."
    assert sum(isinstance(m, ToolMessage) for m in values["messages"]) == 2  # both turns kept
    assert not graph.get_state(config).interrupts
