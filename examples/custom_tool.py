"""A developer's own tool: an order-status lookup added to the standard tools.

The embedded policy has no language model: it routes by the metadata a tool carries
(`agents.tools.base.META_KEYS`): example phrasings, cue words, a `parse` that finds the
arguments in what was said, and a `say` that turns the result into a spoken sentence.
`standard_tool` builds such a langchain tool; `Assistant(..., extra_tools=[...])` adds it.

Run: python examples/custom_tool.py [--out DIR]   (writes DIR/reply.wav; offline)
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path

from langchain_core.tools import ToolException

from agents import Assistant
from agents.tools.base import standard_tool
from model.embedded.policy import EmbeddedPolicy

ORDERS = {"1042": ("shipped", "Thursday"), "2077": ("being packed", "next Monday")}


def order_status(order_id: str) -> str:
    """Where an order is and when it arrives."""
    if order_id not in ORDERS:
        raise ToolException(f"there is no order {order_id}")  # spoken by `say_error`
    status, eta = ORDERS[order_id]
    return json.dumps({"order_id": order_id, "status": status, "arrives": eta})


def parse(text: str, previous) -> dict | None:
    """The order number in what was said (None: ask for it, with `clarify`)."""
    found = re.search(r"\b(\d{3,})\b", text)
    return {"order_id": found.group(1)} if found else None


ORDER_TOOL = standard_tool(
    order_status, "order_status", "Look up the status of an order by its number.",
    examples=["where is my order 1042", "what's the status of order 2077",
              "has my order shipped", "track my package"],
    cues=["order", "package", "shipped", "delivery", "track"],
    parse=parse,
    say=lambda r, args: f"Order {r['order_id']} is {r['status']} and arrives {r['arrives']}.",
    say_error=lambda message, args: f"Sorry, {message}.",
    clarify="What is the order number?",
)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=tempfile.mkdtemp(prefix="stepvox-example-"))
    args = ap.parse_args()
    out = Path(args.out)
    # a throwaway STEPVOX_HOME: conversations (SQLite checkpoints) and recordings live there
    asst = Assistant(EmbeddedPolicy(), out / "home", extra_tools=[ORDER_TOOL])
    try:
        for i, question in enumerate(["Where is my order 1042?", "And order 9999?"]):
            r = asst.respond(text=question, thread_id="orders", out_path=out / f"reply{i}.wav")
            print(f"user:      {question}")
            for call in r.tool_calls:
                print(f"tool call: {call.name}({call.arguments}) -> {call.result}"
                      + (" [error]" if call.is_error else ""))
            print(f"assistant: {r.reply_text}")
            print(f"audio:     {r.reply_audio} ({r.info['reply_duration_s']} s)")
    finally:
        asst.close()


if __name__ == "__main__":
    main()
