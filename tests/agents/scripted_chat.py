"""A real HTTP server on loopback speaking the OpenAI chat-completions protocol (streamed
server-sent events, `GET /v1/models`), with scripted replies: what a chat-model brain talks
to in tests that must not depend on a model (Ollama, llama.cpp and vLLM speak the same).

Replies (`mode`):
- "echo": "You said: <the last user text>." in word-sized deltas;
- "tool": a request whose last message is not a tool result gets "Let me work that out. "
  and a call of `tool` (default `calculator`) with `arguments`, its JSON arguments cut in two
  deltas as servers stream them; one that ends with a tool result gets `answer` (two
  sentences by default), one delta at a time, `chunk_delay_s` apart; `raw_arguments` sends
  that text as the call's arguments instead (e.g. JSON cut short);
- "status": an HTTP error (`status`, `body`); "garbage": HTTP 200 with an HTML page;
  "bad-json": an event whose data is not JSON.

`GET /v1/models` lists `models` (None: 404, a server without the list).
Every chat request's JSON body is kept in `requests`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0,
            "model": "scripted", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            c = m.get("content")
            return c if isinstance(c, str) else " ".join(p.get("text", "") for p in c or [])
    return ""


class ScriptedChat:
    def __init__(self, mode: str = "echo", *, tool: str = "calculator",
                 arguments: dict[str, Any] | None = None,
                 raw_arguments: str | None = None,
                 answer: str = "It is 391. Anything else?", chunk_delay_s: float = 0.0,
                 status: int = 500, body: bytes = b"model crashed",
                 models: tuple[str, ...] | None = ("scripted",)) -> None:
        self.mode, self.tool, self.answer = mode, tool, answer
        self.arguments = {"expression": "17 * 23"} if arguments is None else arguments
        self.raw_arguments = raw_arguments
        self.chunk_delay_s, self.status, self.body, self.models = chunk_delay_s, status, body, models
        self.requests: list[dict[str, Any]] = []
        self.sent_last: list[float] = []  # when each reply's last delta went out
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802
                if self.path.rstrip("/").endswith("/models") and owner.models is not None:
                    data = {"object": "list", "data": [{"id": m, "object": "model"} for m in owner.models]}
                    owner._send(self, 200, "application/json", json.dumps(data).encode())
                else:
                    owner._send(self, 404, "text/plain", b"not found")

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                req = json.loads(self.rfile.read(n))
                owner.requests.append(req)
                owner.reply(self, req)

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"

    def chunks(self, req: dict[str, Any]) -> list[dict[str, Any]]:
        msgs = req.get("messages") or []
        if self.mode == "tool":
            if msgs and msgs[-1].get("role") == "tool":
                words = self.answer.split(" ")
                return [_chunk({"content": w + (" " if i < len(words) - 1 else "")})
                        for i, w in enumerate(words)] + [_chunk({}, "stop")]
            args = self.raw_arguments if self.raw_arguments is not None else json.dumps(self.arguments)
            cut = len(args) // 2
            first = {"index": 0, "id": f"call_{len(self.requests)}", "type": "function",
                     "function": {"name": self.tool, "arguments": args[:cut]}}
            second = {"index": 0, "function": {"arguments": args[cut:]}}
            return [_chunk({"role": "assistant", "content": ""}),
                    _chunk({"content": "Let me work "}), _chunk({"content": "that out. "}),
                    _chunk({"tool_calls": [first]}), _chunk({"tool_calls": [second]}),
                    _chunk({}, "tool_calls")]
        answer = f"You said: {last_user_text(msgs)}."
        return [_chunk({"content": w + " "}) for w in answer.split(" ")] + [_chunk({}, "stop")]

    def reply(self, h: BaseHTTPRequestHandler, req: dict[str, Any]) -> None:
        if self.mode == "status":
            self._send(h, self.status, "application/json", self.body)
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
            if self.chunk_delay_s and c["choices"][0]["delta"].get("content"):
                time.sleep(self.chunk_delay_s)
        self.sent_last.append(time.perf_counter())
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
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> ScriptedChat:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
