"""A person in the loop over the web protocol: a real uvicorn server on loopback, a websockets
client, the real assistant with `calculator` needing approval. A spoken question pauses for
approval (the `waiting` event), `approve` runs the tool and the reply is spoken; `deny` keeps
it from running; a conversation paused before the connection is announced after `ready`; an
operator's `reply` is said in the conversation's voice."""

from __future__ import annotations

import asyncio
import json
import uuid

import numpy as np
import pytest

from assistant.live.endpointer import EndpointConfig
from assistant.server.app import create_app
from assistant.server.run import ServerThread
from model.events import Waiting, parse_event
from tests.live.audio_helpers import silence, speech
from tests.live.server_helpers import wait_closed


@pytest.fixture(scope="module")
def server(approval_assistant):
    app = create_app(approval_assistant, endpoint=EndpointConfig(silence_ms=500))
    with ServerThread(app) as srv:
        yield {"url": srv.url.replace("http", "ws") + "/ws", "app": app, "a": approval_assistant}
    wait_closed(app)


class Client:
    """One page's socket: JSON events in order, reply audio (int16) counted."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.events: list[dict] = []
        self.audio_samples = 0
        self.peak = 0

    async def send(self, msg) -> None:
        await self.ws.send(json.dumps(msg) if isinstance(msg, dict) else msg)

    async def until(self, kind: str, where=lambda m: True, timeout: float = 60) -> dict:
        """Read until an event of `kind` (matching `where`) arrives; return it."""
        async def read():
            while True:
                m = await self.ws.recv()
                if isinstance(m, bytes):
                    x = np.frombuffer(m, "<i2")
                    self.audio_samples += x.size
                    self.peak = max(self.peak, int(np.abs(x).max()) if x.size else 0)
                    continue
                d = json.loads(m)
                parse_event(d)  # every message is a model.events event
                self.events.append(d)
                if d["type"] == kind and where(d):
                    return d

        return await asyncio.wait_for(read(), timeout)

    def kinds(self, since: int = 0) -> list[str]:
        return [e["type"] for e in self.events[since:]]


async def session(url: str, thread_id: str, body) -> Client:
    import websockets

    async with websockets.connect(url) as ws:
        c = Client(ws)
        await c.send({"type": "start", "sample_rate": 16000, "thread_id": thread_id})
        await c.until("ready")
        await body(c)
        return c


def speak(text: str) -> list[bytes]:
    pcm = (np.concatenate([silence(0.3), speech(text), silence(1.0)]) * 32767).astype("<i2")
    return [pcm[i : i + 512].tobytes() for i in range(0, pcm.size, 512)]


def test_a_spoken_question_waits_for_approval_and_approve_runs_the_tool(server):
    a, thread = server["a"], f"web-{uuid.uuid4().hex[:8]}"
    seen: dict = {}

    async def body(c: Client) -> None:
        for f in speak("What is six times seven?"):
            await c.send(f)
        seen["waiting"] = await c.until("waiting")
        first = await c.until("turn_done")
        seen["paused"] = first["result"]
        # "Stop reply" while the question for approval plays: a barge-in, but the pending
        # call stays (the conversation is not trimmed to what was heard of that question)
        await c.send({"type": "interrupt"})
        seen["barge_in"] = await c.until("barge_in", timeout=10)
        await asyncio.sleep(0.5)  # the trim (when there is one) runs on its own thread
        seen["still"] = await asyncio.to_thread(a.waiting, thread)
        assert seen["still"] is not None, "the pending call was lost"
        seen["audio_before"] = c.audio_samples
        mark = len(c.events)
        await c.send({"type": "approve"})
        seen["done"] = (await c.until("turn_done"))["result"]
        seen["after"] = c.kinds(mark)
        seen["result"] = next(e for e in c.events[mark:] if e["type"] == "tool_result")
        seen["audio_after"] = c.audio_samples - seen["audio_before"]
        seen["peak"] = c.peak

    asyncio.run(session(server["url"], thread, body))
    w = Waiting.model_validate(seen["waiting"])
    assert w.kind == "approval" and [c.name for c in w.calls] == ["calculator"], w
    assert seen["paused"]["waiting"]["kind"] == "approval"
    assert "approval" in seen["paused"]["reply_text"], seen["paused"]
    assert seen["barge_in"]["was_playing"] and seen["still"] == w
    # the resumed turn streams like a turn: it starts, the tool runs, the reply is spoken; what
    # still played of the question for approval is stopped first
    after = [k for k in seen["after"] if k != "stop_playback"]
    assert after[0] == "turn_start" and "tool_result" in after and "text_delta" in after, after
    assert not seen["result"]["is_error"] and "42" in seen["result"]["content"], seen["result"]
    assert "42" in seen["done"]["reply_text"] and seen["done"]["waiting"] is None, seen["done"]
    assert seen["done"]["tool_calls"][0]["name"] == "calculator"
    assert seen["audio_after"] > 16000 * 0.5 and seen["peak"] > 1000
    assert a.waiting(thread) is None


def test_a_conversation_paused_before_connecting_is_announced_and_deny_keeps_the_tool_idle(server):
    a, thread = server["a"], f"web-{uuid.uuid4().hex[:8]}"
    paused = a.respond(text="what is 12 times 12", thread_id=thread)  # e.g. before a restart
    assert paused.waiting is not None
    seen: dict = {}

    async def body(c: Client) -> None:
        seen["waiting"] = await c.until("waiting", timeout=10)
        seen["first"] = c.kinds()
        mark = len(c.events)
        await c.send({"type": "deny", "reason": "not now"})
        seen["done"] = (await c.until("turn_done"))["result"]
        seen["result"] = next(e for e in c.events[mark:] if e["type"] == "tool_result")

    asyncio.run(session(server["url"], thread, body))
    assert seen["first"] == ["status", "ready", "waiting"], seen["first"]
    assert Waiting.model_validate(seen["waiting"]) == paused.waiting
    r = seen["result"]
    assert r["is_error"] and "not approved" in r["content"] and "not now" in r["content"], r
    assert "144" not in seen["done"]["reply_text"] and seen["done"]["reply_text"], seen["done"]
    assert seen["done"]["tool_calls"][0]["is_error"] and a.waiting(thread) is None


def test_an_operator_reply_is_spoken_in_the_conversation(server):
    a, thread = server["a"], f"web-{uuid.uuid4().hex[:8]}"
    assert a.respond(text="can I talk to a real person", thread_id=thread).waiting.kind == "handoff"
    answer = "Hi, this is Sam. Your order ships on Monday."
    seen: dict = {}

    async def body(c: Client) -> None:
        seen["waiting"] = await c.until("waiting", timeout=10)
        await c.send({"type": "reply", "text": answer})
        seen["done"] = (await c.until("turn_done"))["result"]
        seen["audio"] = c.audio_samples

    asyncio.run(session(server["url"], thread, body))
    assert seen["waiting"]["kind"] == "handoff"
    assert answer in seen["done"]["reply_text"] and seen["done"]["waiting"] is None, seen["done"]
    assert seen["audio"] > 16000 * 1.0  # said aloud, in the conversation's voice
    assert a.waiting(thread) is None
