"""Add a node to the stepvox graph and compile it with your own options.

`graph_builder(policy, tools)` is the uncompiled `StateGraph` (listen -> respond ->
[approve] -> tools -> respond ...). Here a developer adds an `audit` node that runs after
every tool round (alongside the next `respond`) and appends each tool result to a JSONL
file, then compiles the graph with their own SQLite checkpointer and a breakpoint before
`tools` (`interrupt_before`): the turn stops before any tool runs, the pending call is
inspected, and `graph.stream(None, config)` lets it continue.

Run: python examples/add_node.py [--out DIR]   (writes DIR/reply.wav, DIR/audit.jsonl; offline)
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
from pathlib import Path

from langchain_core.messages import ToolMessage
from langgraph.checkpoint.sqlite import SqliteSaver

from agents import AgentState, default_tools, graph_builder
from agents.messages import to_langchain
from agents.record import TurnRecorder
from model.embedded.policy import EmbeddedPolicy
from model.messages import Message, TextPart


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=tempfile.mkdtemp(prefix="stepvox-example-"))
    out = Path(ap.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)

    def audit(state: AgentState) -> dict:
        """Append the newest tool round's results to the audit file (changes no state)."""
        results = []
        for m in reversed(state["messages"]):
            if not isinstance(m, ToolMessage):
                break
            results.append({"tool": m.name, "result": m.content, "status": m.status})
        with open(out / "audit.jsonl", "a") as f:
            f.writelines(json.dumps(r) + "\n" for r in reversed(results))
        return {}

    policy = EmbeddedPolicy()
    tools = default_tools(out / "home")
    builder = graph_builder(policy, tools)
    builder.add_node("audit", audit)
    builder.add_edge("tools", "audit")  # a side branch: respond goes on as before
    saver = SqliteSaver(sqlite3.connect(out / "checkpoints.sqlite", check_same_thread=False))
    graph = builder.compile(checkpointer=saver, interrupt_before=["tools"])

    config = {"configurable": {"thread_id": "audited"}}
    text = "What is 345 plus 655?"
    user = to_langchain(Message(role="user", parts=[TextPart(text=text)]))
    rec = TurnRecorder(policy=policy.name, thread="audited", voice=None)
    print(f"user: {text}")
    for ev in graph.stream({"messages": [user]}, config, stream_mode="custom"):
        rec.add(ev)
    snap = graph.get_state(config)
    pending = snap.values["messages"][-1].tool_calls
    print(f"paused before {snap.next}: {[(c['name'], c['args']) for c in pending]}")
    for ev in graph.stream(None, config, stream_mode="custom"):  # continue: run the tools
        rec.add(ev)
    result = rec.result(out / "reply.wav")
    print(f"tool calls: {[(c.name, c.result) for c in result.tool_calls]}")
    print(f"assistant: {result.reply_text}")
    print(f"audio: {result.reply_audio} ({result.info['reply_duration_s']} s)")
    print("audit.jsonl:", (out / "audit.jsonl").read_text().strip())
    saver.conn.close()
    tools.close()


if __name__ == "__main__":
    main()
