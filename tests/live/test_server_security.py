"""`stepvox serve` security and limits: the Host/Origin allow-list, the cookie, no API schema,
private and removed uploads streamed under a size limit, sessions dropped when they close."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import stat
import tracemalloc
import weakref

import httpx
import pytest

from assistant.server.app import create_app
from assistant.server.guard import Authority, HostPolicy
from assistant.server.run import ServerThread
from core.settings import Settings
from tests.live.audio_helpers import SpeakingAssistant
from tests.live.server_helpers import multipart, wait_closed, ws_session


@pytest.mark.parametrize(
    "host, allowed, bind, ok",
    [
        ("127.0.0.1:8765", [], None, True),
        ("localhost:8765", [], None, True),
        ("[::1]:8765", [], None, True),
        ("LOCALHOST:8765", [], None, True),
        ("127.0.0.1:8766", [], None, False),  # another port of this machine
        ("127.0.0.1", [], None, False),  # port 80
        ("evil.example:8765", [], None, False),  # DNS rebinding
        ("localhost.evil.example:8765", [], None, False),
        ("voice.example.org", ["voice.example.org"], None, True),  # behind a proxy, any port
        ("voice.example.org:8443", ["voice.example.org"], None, True),
        ("voice.example.org:8443", ["voice.example.org:443"], None, False),
        ("voice.example.org:443", ["voice.example.org:443"], None, True),
        ("192.168.1.20:8765", [], "192.168.1.20", True),  # the bind address
        ("192.168.1.20:8765", [], "0.0.0.0", False),  # a wildcard bind names no host
        ("10.0.0.7:8765", [], "0.0.0.0", True),  # the address this connection arrived on
    ],
)
def test_host_policy(host, allowed, bind, ok):
    server = ("10.0.0.7", 8765) if host.startswith("10.") else ("127.0.0.1", 8765)
    assert HostPolicy(allowed, bind).allows(Authority.parse(host), 80, server) is ok


def local_app(tmp_path, **kw):
    return create_app(
        kw.pop("assistant", None) or SpeakingAssistant(),
        settings=Settings(home=tmp_path, **kw.pop("settings", {})),
        upload_dir=tmp_path / "uploads",
        **kw,
    )


def test_same_origin_page_and_allowed_hosts_work_other_origins_do_not(tmp_path):
    app = local_app(tmp_path, settings={"allowed_hosts": ["voice.example.org"]})
    body, headers = multipart(("notes.txt", b"The office opens at nine."))
    with ServerThread(app) as srv:
        own = f"http://127.0.0.1:{srv.port}"
        assert httpx.get(own + "/").status_code == 200
        r = httpx.post(own + "/api/corpus", content=body, headers={**headers, "Origin": own,
                                                                    "Sec-Fetch-Site": "same-origin"})
        assert r.status_code == 200, r.text
        proxied = {"Host": "voice.example.org", "Origin": "https://voice.example.org"}
        assert httpx.get(own + "/api/voices", headers=proxied).status_code == 200
        assert httpx.get(own + "/", headers={"Host": "voice.example.org.evil"}).status_code == 400
        url = own.replace("http", "ws") + "/ws"
        ok = asyncio.run(ws_session(url, [{"type": "start"}, {"type": "ping"}], expect=1, origin=own))
        assert [m["type"] for m in ok["messages"]] == ["status", "ready", "pong"]
        # a link from another site to the page still opens it (GET is not state-changing)
        assert httpx.get(own + "/", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


def test_no_api_schema_or_docs_are_served(tmp_path):
    with ServerThread(local_app(tmp_path, token="s3cret-token")) as srv:
        for path in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
            for auth in ({}, {"Authorization": "Bearer s3cret-token"}):
                assert httpx.get(srv.url + path, headers=auth).status_code == 404, path


def test_health_without_the_token_says_only_the_state(tmp_path):
    """A load error's text can name local paths: only the token holder reads it (security review)."""
    with ServerThread(local_app(tmp_path, token="s3cret-token")) as srv:
        anon = httpx.get(srv.url + "/api/health").json()
        auth = httpx.get(srv.url + "/api/health", headers={"Authorization": "Bearer s3cret-token"}).json()
    assert set(anon) == {"ok", "assistant"} and ":" not in anon["assistant"]
    assert "sessions" in auth


@pytest.mark.parametrize(
    "proxy_headers, forwarded, secure",
    [(False, {}, False), (False, {"X-Forwarded-Proto": "https"}, False), (True, {"X-Forwarded-Proto": "https"}, True)],
)
def test_cookie_is_httponly_strict_and_secure_over_https(tmp_path, proxy_headers, forwarded, secure):
    """Over HTTPS (here: a trusted proxy on loopback saying so) the cookie is Secure; an
    X-Forwarded-Proto that is not trusted changes nothing."""
    app = local_app(tmp_path, token="s3cret-token")
    with ServerThread(app, proxy_headers=proxy_headers, forwarded_allow_ips="127.0.0.1") as srv:
        r = httpx.get(srv.url + "/?token=s3cret-token", headers=forwarded)
    cookie = r.headers["set-cookie"].lower()
    assert r.status_code == 200 and "stepvox_token=s3cret-token" in cookie
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert ("secure" in cookie.replace("samesite", "")) is secure, cookie


class RecordingCorpus(SpeakingAssistant):
    """add_corpus notes where each file is and its modes (or fails, when told to)."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.seen: list[tuple[str, int, int, bytes, int]] = []  # path, modes, head, size

    def add_corpus(self, paths):
        for p in paths:
            with open(p, "rb") as f:
                head = f.read(64)
            self.seen.append((str(p), stat.S_IMODE(os.stat(p).st_mode),
                              stat.S_IMODE(os.stat(p.parent).st_mode), head, p.stat().st_size))
        if self.fail:
            raise ValueError(f"{paths[0].name}: cannot parse")
        return {"added": [str(p) for p in paths]}


@pytest.mark.parametrize("fail", [False, True])
def test_uploads_are_private_and_removed_after_indexing_also_on_failure(tmp_path, fail):
    bot = RecordingCorpus(fail=fail)
    app = local_app(tmp_path, assistant=bot)
    body, headers = multipart(("a.txt", b"alpha"), ("b.md", b"# beta"))
    with ServerThread(app) as srv:
        r = httpx.post(srv.url + "/api/corpus", content=body, headers=headers)
    assert r.status_code == (400 if fail else 200), r.text
    if fail:
        assert r.json() == {"detail": "a.txt: cannot parse"}
    assert [(s[1], s[2], s[3]) for s in bot.seen] == [(0o600, 0o700, b"alpha"), (0o600, 0o700, b"# beta")]
    uploads = tmp_path / "uploads"
    assert all(s[0].startswith(str(uploads)) for s in bot.seen)
    assert stat.S_IMODE(uploads.stat().st_mode) == 0o700
    assert [p for p in uploads.rglob("*") if p.is_file()] == []  # nothing left behind
    assert [p for p in uploads.iterdir() if p.name.startswith("req-")] == []


def test_a_large_upload_is_streamed_to_disk_not_held_in_memory(tmp_path):
    """40 MB sent in chunks: the server's Python allocations stay far below the body size."""
    bot = RecordingCorpus()
    app = local_app(tmp_path, assistant=bot, settings={"max_upload_mb": 64})
    size = 40 * 1024 * 1024
    head, headers = multipart(("big.txt", b"<data>"))
    pre, post = head.split(b"<data>")

    def body():
        yield pre
        block = b"x" * (1024 * 1024)
        for _ in range(size // len(block)):
            yield block
        yield post

    with ServerThread(app) as srv:
        tracemalloc.start()
        try:
            r = httpx.post(srv.url + "/api/corpus", content=body(), headers=headers, timeout=120)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert r.status_code == 200, r.text
    assert bot.seen and bot.seen[0][4] == size
    assert peak < 12 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.0f} MB upload"


def test_closed_sessions_are_dropped_and_release_their_vad(tmp_path):
    app = local_app(tmp_path)
    refs = []

    async def one(url):
        import websockets

        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"type": "start"}))
            while json.loads(await ws.recv())["type"] != "ready":
                pass
            refs.append(weakref.ref(app.state.sessions[-1]))
            assert len(app.state.sessions) == 1

    with ServerThread(app) as srv:
        url = srv.url.replace("http", "ws") + "/ws"
        for _ in range(5):
            asyncio.run(one(url))
            assert wait_closed(app)  # the server drops the session just after the client left
    gc.collect()
    assert [r() for r in refs] == [None] * 5  # nothing else holds a finished session


def test_malformed_frames_and_vanishing_clients_leave_no_traceback(tmp_path, caplog):
    """Bad first frames, clients that drop the TCP connection mid-handshake or mid-session:
    the server logs no exception (uvicorn would print it as a traceback) and keeps serving."""
    import websockets

    app = local_app(tmp_path)
    caplog.set_level(logging.DEBUG)

    async def abrupt(url: str, frames: list) -> None:
        ws = await websockets.connect(url)
        for f in frames:
            await ws.send(f)
        ws.transport.abort()

    with ServerThread(app) as srv:
        url = srv.url.replace("http", "ws") + "/ws"
        for first in (bytes(10), "nope", json.dumps({"type": "dance"}), json.dumps([1]), "\x00"):
            asyncio.run(ws_session(url, [first]))
            asyncio.run(abrupt(url, [first]))
        asyncio.run(abrupt(url, []))
        asyncio.run(abrupt(url, [json.dumps({"type": "start"})]))
        asyncio.run(abrupt(url, [json.dumps({"type": "start"}), bytes(1024) * 4]))
        ok = asyncio.run(ws_session(url, [{"type": "start"}, {"type": "ping"}], expect=1))
        assert wait_closed(app)
    assert [m["type"] for m in ok["messages"]] == ["status", "ready", "pong"]
    bad = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()
           or "Exception in ASGI" in r.getMessage()]
    assert bad == [], [r.getMessage() for r in bad]


def test_upload_dirs_a_killed_server_left_are_swept(tmp_path):
    import os
    import time

    from assistant.server.uploads import sweep

    base = tmp_path / "uploads"
    old, fresh = base / "req-old", base / "req-fresh"
    for d in (old, fresh):
        d.mkdir(parents=True)
        (d / "doc.txt").write_text("half an upload")
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert sweep(base) == 1
    assert not old.exists() and (fresh / "doc.txt").exists()
