"""Bad decisions over the web protocol (a real uvicorn server on loopback, the real assistant
with `calculator` needing approval): each is answered with one `error` event naming the
problem, the connection stays usable (a `ping` after it gets its `pong`), and the conversation
is unchanged (what it waits for, and its messages)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from assistant.live.endpointer import EndpointConfig
from assistant.server.app import create_app
from assistant.server.run import ServerThread
from tests.live.server_helpers import wait_closed
from tests.live.test_server_approval import Client


@pytest.fixture(scope="module")
def server(approval_assistant):
    a = approval_assistant
    tag = uuid.uuid4().hex[:6]
    threads = {"fresh": f"bad-fresh-{tag}", "approval": f"bad-approval-{tag}",
               "handoff": f"bad-handoff-{tag}"}
    a.respond(text="what time is it in Paris", thread_id=threads["fresh"])  # answered, not paused
    assert a.respond(text="what is 3 times 3", thread_id=threads["approval"]).waiting.kind == "approval"
    assert a.respond(text="I want to talk to a person", thread_id=threads["handoff"]).waiting.kind == "handoff"
    app = create_app(a, endpoint=EndpointConfig(silence_ms=500))
    with ServerThread(app) as srv:
        yield {"url": srv.url.replace("http", "ws") + "/ws", "a": a, "threads": threads}
    wait_closed(app)


def state(a, thread: str) -> str:
    """What the conversation waits for and every message it holds."""
    w = a.waiting(thread)
    msgs = [m.model_dump() for m in a.history(thread)]
    return json.dumps([w.model_dump() if w else None, msgs], sort_keys=True, default=str)


async def exchange(url: str, thread: str, frames: list) -> list[dict]:
    """Start a session on `thread`, send `frames`, then a ping; the events up to its pong."""
    import websockets

    async with websockets.connect(url) as ws:
        c = Client(ws)
        await c.send({"type": "start", "sample_rate": 16000, "thread_id": thread})
        await c.until("ready")
        for f in frames:
            await c.send(f)
        await c.send({"type": "ping"})
        await c.until("pong", timeout=30)
        return c.events


# name: (the conversation: fresh | approval | handoff, the frame, words the error names)
CASES = {
    "approve-nothing-waits": ("fresh", {"type": "approve"}, ["'approve'", "not waiting"]),
    "deny-nothing-waits": ("fresh", {"type": "deny", "reason": "no"}, ["'deny'", "not waiting"]),
    "reply-nothing-waits": ("fresh", {"type": "reply", "text": "Hello there."}, ["'reply'", "not waiting"]),
    "reply-to-an-approval": ("approval", {"type": "reply", "text": "Sure."}, ["'reply'", "an approval", "'approve' or 'deny'"]),
    "approve-a-handoff": ("handoff", {"type": "approve"}, ["'approve'", "operator's answer", "'reply'"]),
    "deny-a-handoff": ("handoff", {"type": "deny"}, ["'deny'", "operator's answer"]),
    "approve-reason-not-text": ("approval", {"type": "approve", "reason": 5}, ["'approve'", "reason"]),
    "approve-reason-too-long": ("approval", {"type": "approve", "reason": "x" * 201}, ["reason", "200"]),
    "deny-reason-control-char": ("approval", {"type": "deny", "reason": "no\x00way"}, ["reason", "control"]),
    "approve-unknown-field": ("approval", {"type": "approve", "call_id": "c1"}, ["call_id"]),
    "approve-with-approved-false": ("approval", {"type": "approve", "approved": False}, ["approved"]),
    "reply-missing-text": ("handoff", {"type": "reply"}, ["'reply'", "text", "required"]),
    "reply-null-text": ("handoff", {"type": "reply", "text": None}, ["text"]),
    "reply-blank-text": ("handoff", {"type": "reply", "text": "   \n "}, ["text", "empty"]),
    "reply-text-too-long": ("handoff", {"type": "reply", "text": "a" * 2001}, ["text", "2000"]),
    "reply-text-not-string": ("handoff", {"type": "reply", "text": ["Monday"]}, ["text"]),
    "reply-text-control-char": ("handoff", {"type": "reply", "text": "ships\x07 Monday"}, ["text", "control"]),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_decision_gets_an_error_and_changes_nothing(server, case):
    which, frame, words = CASES[case]
    a, thread = server["a"], server["threads"][which]
    before = state(a, thread)
    events = asyncio.run(exchange(server["url"], thread, [frame]))
    kinds = [e["type"] for e in events]
    expected = ["status", "ready", *(["waiting"] if which != "fresh" else []), "error", "pong"]
    assert kinds == expected, events
    err = events[-2]["message"]
    assert "\n" not in err, err
    for w in words:
        assert w in err, err
    assert state(a, thread) == before


def test_a_second_decision_while_the_first_runs_is_refused_and_the_tool_runs_once(server):
    a, thread = server["a"], f"bad-twice-{uuid.uuid4().hex[:6]}"
    assert a.respond(text="what is 5 times 9", thread_id=thread).waiting is not None

    async def run(url):
        import websockets

        async with websockets.connect(url) as ws:
            c = Client(ws)
            await c.send({"type": "start", "sample_rate": 16000, "thread_id": thread})
            await c.until("waiting", timeout=30)
            await c.send({"type": "approve"})
            await c.send({"type": "deny"})
            await c.until("turn_done")
            return c.events

    events = asyncio.run(run(server["url"]))
    errors = [e["message"] for e in events if e["type"] == "error"]
    assert len(errors) == 1 and "'deny'" in errors[0] and "still being carried out" in errors[0]
    results = [e for e in events if e["type"] == "tool_result"]
    assert len(results) == 1 and "45" in results[0]["content"] and not results[0]["is_error"]
    done = next(e for e in events if e["type"] == "turn_done")["result"]
    assert "45" in done["reply_text"] and a.waiting(thread) is None
