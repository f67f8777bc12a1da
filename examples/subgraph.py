"""The stepvox graph as one node (a sub-graph) of a developer's own LangGraph app.

The app's own `triage` node sends invoice questions to its `billing` node and the rest to
`stepvox` (the compiled stepvox graph, added as a node); its `log` node runs after either.
The conversation lives in the app's state (which extends stepvox's `AgentState`), saved by
the app's checkpointer, and the app has its own run context; a pause inside stepvox (a tool
that needs approval) reaches the app as its interrupt. `stream(..., stream_mode="custom",
subgraphs=True)` yields stepvox's events (`model.events`) with the namespace they came
from; `TurnRecorder` folds them into the reply and its audio.

Run: python examples/subgraph.py [--out DIR]   (writes DIR/reply*.wav; offline)
"""

from __future__ import annotations

import argparse
import operator
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from langgraph.types import Command

from agents import AgentState, build_graph, default_tools
from agents.messages import to_langchain
from agents.record import TurnRecorder
from model.embedded.policy import EmbeddedPolicy
from model.events import TextDelta, ToolCall, ToolResult
from model.messages import Message, TextPart
from model.policy import CancelToken


class AppState(AgentState, total=False):  # stepvox's keys (messages, voice, approvals)
    log: Annotated[list[str], operator.add]  # the app's own key: stepvox never sees it


def triage(state: AppState) -> Command[Literal["billing", "stepvox"]]:
    text = state["messages"][-1].content
    goto = "billing" if "invoice" in text.lower() else "stepvox"
    return Command(update={"log": [f"triage: {text!r} -> {goto}"]}, goto=goto)


def billing(state: AppState) -> dict:
    return {"messages": [AIMessage(content="Billing will email you a copy of your invoice.")]}


@dataclass
class AppContext:  # the app's own run context; stepvox reads `cancel` (barge-in) from it
    user: str
    cancel: CancelToken | None = None


def log(state: AppState, runtime: Runtime[AppContext]) -> dict:
    return {"log": [f"log: replied to {runtime.context.user}: {state['messages'][-1].content!r}"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=tempfile.mkdtemp(prefix="stepvox-example-"))
    out = Path(ap.parse_args().out)
    policy = EmbeddedPolicy()
    tools = default_tools(out / "home")  # the standard tools (time, calculator, weather, ...)
    stepvox = build_graph(policy, tools)  # no checkpointer: it uses the parent's

    app = StateGraph(AppState, context_schema=AppContext)
    app.add_node("triage", triage)
    app.add_node("billing", billing)
    app.add_node("stepvox", stepvox)  # the compiled stepvox graph as a node
    app.add_node("log", log)
    app.add_edge(START, "triage")  # triage goes on to billing or stepvox (its Command)
    app.add_edge("billing", "log")
    app.add_edge("stepvox", "log")
    app.add_edge("log", END)
    graph = app.compile(checkpointer=InMemorySaver())

    config = {"configurable": {"thread_id": "app-1"}}
    for i, text in enumerate(["What is 12 times 7?", "Can you resend my invoice?"]):
        user = to_langchain(Message(role="user", parts=[TextPart(text=text)]))
        rec = TurnRecorder(policy=policy.name, thread="app-1", voice=None)
        print(f"user: {text}")
        for ns, ev in graph.stream({"messages": [user]}, config, context=AppContext("ada"),
                                   stream_mode="custom", subgraphs=True):  # ns: ("stepvox:<id>",)
            rec.add(ev)  # every stepvox event, from inside the sub-graph
            if isinstance(ev, ToolCall | ToolResult | TextDelta):
                print(f"  {ns[0].split(':')[0]} event: {ev.model_dump(exclude={'id'})}")
        print(f"assistant: {graph.get_state(config).values['messages'][-1].content}")
        if rec.audio:
            result = rec.result(out / f"reply{i}.wav")
            print(f"audio: {result.reply_audio} ({result.info['reply_duration_s']} s)")
    values = graph.get_state(config).values
    print("app log:", *values["log"], sep="\n  ")
    print("messages in the app's checkpoint:", len(values["messages"]))
    tools.close()

if __name__ == "__main__":
    main()
