"""A real HTTP server on loopback speaking the remote policy's protocol (OpenAI-style server-sent
events), with scripted replies, for tests of conversations that must not depend on a model.

Replies (`mode`):
- "echo": the answer is "You said: <the last user text>.";
- "tool": a request whose last message is not a tool result gets "Let me check." and a
  `get_current_time` call; one that ends with a tool result gets the answer "Here it is.";
- "status": an HTTP error (`status`, `body`); "garbage": HTTP 200 with a body that is not SSE;
  "bad-json": SSE whose data is not JSON.

Every request's JSON body is kept in `requests` (with its arrival time). `delay_s` holds each
reply that long; `gate` (an Event, open by default) holds replies until it is set;
`fail_from=N` answers the N-th request (0-based) and every later one with the HTTP error.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _delta(d: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "human":
            return " ".join(c.get("text", "") for c in m.get("content") or [] if c.get("type") == "text")
    return ""


def _real_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without the `<tts_start>` prefill the policy appends."""
    if messages and messages[-1].get("role") == "assistant" and messages[-1].get("eot") is False:
        return messages[:-1]
    return messages


class ScriptedRemote:
    def __init__(self, mode: str = "echo", *, delay_s: float = 0.0, chunk_delay_s: float = 0.0,
                 status: int = 500, body: bytes = b"internal failure", fail_from: int | None = None) -> None:
        self.mode, self.delay_s, self.chunk_delay_s = mode, delay_s, chunk_delay_s
        self.status, self.body, self.fail_from = status, body, fail_from
        self.requests: list[tuple[float, dict[str, Any]]] = []
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                req = json.loads(self.rfile.read(n))
                with owner._lock:
                    owner.requests.append((time.time(), req))
                owner.gate.wait(60)
                time.sleep(owner.delay_s)
                failing = owner.fail_from is not None and len(owner.requests) > owner.fail_from
                owner.reply(self, req, failing)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"

    # -- replies ------------------------------------------------------------------------
    def chunks(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        msgs = _real_messages(req.get("messages") or [])
        if self.mode == "tool":
            if msgs and msgs[-1].get("role") == "input":
                return [_delta({"content": w}) for w in ("Here ", "it ", "is.")] + [_delta({}, "stop")]
            call = {"index": 0, "id": f"call_{len(self.requests)}", "type": "function",
                    "function": {"name": "get_current_time", "arguments": '{"timezone": "UTC"}'}}
            return [_delta({"content": "Let me "}), _delta({"content": "check."}),
                    _delta({"tool_calls": [call]}), _delta({}, "tool_calls")]
        answer = f"You said: {last_user_text(msgs)}."
        return [_delta({"content": w + " "}) for w in answer.split(" ")] + [_delta({}, "stop")]

    def reply(self, h: BaseHTTPRequestHandler, req: dict[str, Any], failing: bool = False) -> None:
        if self.mode == "status" or failing:
            self._send(h, self.status, "text/plain", self.body)
            return
        if self.mode == "garbage":
            self._send(h, 200, "text/html", b"<html><body>502 Bad Gateway</body></html>\n")
            return
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        if self.mode == "bad-json":
            h.wfile.write(b"data: {this is not json\n\n")
            h.wfile.flush()
            return
        for c in self.chunks(req):
            h.wfile.write(f"data: {json.dumps(c)}\n\n".encode())
            h.wfile.flush()
            if self.chunk_delay_s:
                time.sleep(self.chunk_delay_s)
        h.wfile.write(b"data: [DONE]\n\n")
        h.wfile.flush()

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, ctype: str, body: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(body)

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
