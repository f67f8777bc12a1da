"""A tool that needs a person's approval before it runs: `send_email`.

`metadata["approval"] = True` (here through `standard_tool(..., approval=True)`; or
`Assistant(..., approve_tools=["name"])`, `STEPVOX_APPROVE_TOOLS=name` for any tool) makes
the turn pause when the policy calls it: the assistant says it needs approval,
`TurnResult.waiting` lists the pending call, and the conversation stays paused in its
checkpoint (across restarts) until `Assistant.resume(thread_id, decision)`. A decision is
`True`/`False`, "approve"/"deny", or `{"approved": bool, "reason": "..."}`; a spoken "yes"
or "no" on the next turn decides too. From the command line, on the same STEPVOX_HOME:

    stepvox threads list              # WAITING marks a paused conversation
    stepvox threads approve ID        # or: stepvox threads deny ID

Run: python examples/approval_tool.py [--out DIR]   (writes DIR/*.wav; offline)
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from agents import Assistant
from agents.tools.base import standard_tool
from model.embedded.policy import EmbeddedPolicy

OUTBOX: list[str] = []


def send_email(to: str) -> str:
    """Send an email to a contact."""
    OUTBOX.append(to)
    return json.dumps({"sent_to": to})


EMAIL_TOOL = standard_tool(
    send_email, "send_email", "Send an email to a contact.",
    examples=["send an email to Ada", "email Bob", "write an email to my sister"],
    cues=["email", "mail"],
    parse=lambda text, previous: {"to": text.split()[-1].strip(".?!")},
    say=lambda result, args: f"I sent the email to {result['sent_to']}.",
    approval=True,  # a person approves each call before it runs
)  # fmt: skip


def show(label: str, r) -> None:
    print(f"{label}: {r.reply_text}")
    if r.waiting:
        print(f"  waiting: {r.waiting.kind} {[(c.name, c.arguments) for c in r.waiting.calls]}")
    for c in r.tool_calls:
        print(f"  tool call: {c.name}({c.arguments}) -> {c.result}")
    print(f"  audio: {r.reply_audio}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=tempfile.mkdtemp(prefix="stepvox-example-"))
    out = Path(ap.parse_args().out)
    asst = Assistant(EmbeddedPolicy(), out / "home", extra_tools=[EMAIL_TOOL])
    try:
        # approved: the first turn pauses, nothing is sent until resume
        show("turn", asst.respond(text="Send an email to Ada", thread_id="mail-1",
                                  out_path=out / "ask-1.wav"))
        print(f"paused: {asst.waiting('mail-1') is not None}; outbox: {OUTBOX}")
        show("approved", asst.resume("mail-1", {"approved": True}, out_path=out / "done-1.wav"))
        print(f"outbox: {OUTBOX}")

        # denied: the call never runs, and the reply says so
        show("turn", asst.respond(text="Send an email to Bob", thread_id="mail-2",
                                  out_path=out / "ask-2.wav"))
        show("denied", asst.resume("mail-2", {"approved": False, "reason": "not today"},
                                   out_path=out / "done-2.wav"))
        print(f"outbox: {OUTBOX}")
    finally:
        asst.close()


if __name__ == "__main__":
    main()
