"""The stepvox graph as one node (a sub-graph) of a developer's own LangGraph app.

The app: `triage` (the developer's node) sends billing questions to a `billing` desk of its
own and everything else to `stepvox` (the compiled stepvox graph, added as a node); a `log`
node runs after either. The app is compiled with its own checkpointer (`InMemorySaver`;
any LangGraph checkpointer works) and the sub-graph keeps its conversation there too.
Streaming with `stream_mode="custom", subgraphs=True` yields stepvox's events
(`model.events`: TextDelta, ToolCall, ToolResult, AudioChunk, ...) with the namespace of
the node they came from; `TurnRecorder` folds them into a reply and its audio.

Run: python examples/subgraph.py [--out DIR]   (writes DIR/reply*.wav; offline)
"""

from __future__ import annotations

import argparse
import operator
import tempfile
from pathlib import Path
from typing import Annotated

from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from agents import AgentState, build_graph, default_tools
from agents.messages import to_langchain
from agents.record import TurnRecorder
from model.embedded.policy import EmbeddedPolicy
from model.events import TextDelta, ToolCall, ToolResult
from model.messages import Message, TextPart


class AppState(AgentState, total=False):
    """stepvox's keys (messages, the active voice, approval decisions) carry across turns in
    the app's checkpoint; the app adds its own."""

    log: Annotated[list[str], operator.add]  # the app's own key: stepvox never sees it


def triage(state: AppState) -> dict:
    return {"log": [f"triage: {state['messages'][-1].content!r}"]}


def route(state: AppState) -> str:
    return "billing" if "invoice" in state["messages"][-1].content.lower() else "stepvox"


def billing(state: AppState) -> dict:
    return {"messages": [AIMessage(content="Billing will email you a copy of your invoice.")]}


def log(state: AppState) -> dict:
    return {"log": [f"log: replied {state['messages'][-1].content!r}"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=tempfile.mkdtemp(prefix="stepvox-example-"))
    out = Path(ap.parse_args().out)
    policy = EmbeddedPolicy()
    tools = default_tools(out / "home")  # the standard tools (time, calculator, weather, ...)
    stepvox = build_graph(policy, tools)  # no checkpointer: it uses the parent's

    app = StateGraph(AppState)
    app.add_node("triage", triage)
    app.add_node("billing", billing)
    app.add_node("stepvox", stepvox)  # the compiled stepvox graph as a node
    app.add_node("log", log)
    app.add_edge(START, "triage")
    app.add_conditional_edges("triage", route, ["billing", "stepvox"])
    app.add_edge("billing", "log")
    app.add_edge("stepvox", "log")
    app.add_edge("log", END)
    graph = app.compile(checkpointer=InMemorySaver())

    config = {"configurable": {"thread_id": "app-1"}}
    for i, text in enumerate(["What is 12 times 7?", "Can you resend my invoice?"]):
        user = to_langchain(Message(role="user", parts=[TextPart(text=text)]))
        rec = TurnRecorder(policy=policy.name, thread="app-1", voice=None)
        print(f"user: {text}")
        for namespace, ev in graph.stream({"messages": [user]}, config,
                                          stream_mode="custom", subgraphs=True):
            rec.add(ev)  # every stepvox event, from inside the sub-graph
            if isinstance(ev, ToolCall | ToolResult | TextDelta):
                node = namespace[0].split(":")[0]  # ("stepvox:<task id>",)
                print(f"  {node} event: {ev.type} {ev.model_dump(exclude={'type', 'id'})}")
        state = graph.get_state(config).values
        result = rec.result(out / f"reply{i}.wav" if rec.audio else None)
        print(f"assistant: {state['messages'][-1].content}")
        if result.reply_audio:
            print(f"audio: {result.reply_audio} ({result.info['chunks']} chunks, "
                  f"{result.info['reply_duration_s']} s)")
    print("app log:", *graph.get_state(config).values["log"], sep="\n  ")
    print("messages in the app's checkpoint:", len(graph.get_state(config).values["messages"]))
    tools.close()


if __name__ == "__main__":
    main()
