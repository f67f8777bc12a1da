"""Conversations on a real PostgreSQL server (started once per test session, tests/agents/
conftest.py): `stepvox respond` in one process and the next turn in another, the thread
operations (list, delete, prune) and the rollback of a failed turn, on LangGraph's
PostgresSaver; and the same operations on a checkpointer of another kind (in-memory)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from agents import Assistant
from agents.recordings import thread_audio_dir
from agents.threads import ThreadError, ThreadStore
from model.policy import PolicyUnavailable
from model.remote import RemotePolicy
from tests.agents.scripted_remote import ScriptedRemote

ROOT = Path(__file__).resolve().parents[2]
TABLES = {"checkpoints": "thread_id, checkpoint_ns, checkpoint_id",
          "checkpoint_writes": "thread_id, checkpoint_ns, checkpoint_id, task_id, idx",
          "checkpoint_blobs": "thread_id, checkpoint_ns, channel, version"}


def cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    e = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
         "STEPVOX_HOME": str(home), "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], capture_output=True,
                          text=True, env=e, cwd=ROOT, timeout=300)


def pg_digest(url: str, thread: str | None = None) -> str:
    """Every checkpoint row (of one thread, or all), by content."""
    h = hashlib.sha256()
    with psycopg.connect(url) as conn:
        for table, key in TABLES.items():
            where, params = ("WHERE thread_id = %s", (thread,)) if thread else ("", ())
            for row in conn.execute(f"SELECT * FROM {table} {where} ORDER BY {key}", params):
                h.update(repr(row).encode())
    return h.hexdigest()


def pg_rows(url: str, thread: str) -> int:
    with psycopg.connect(url) as conn:
        return sum(conn.execute(f"SELECT count(*) FROM {t} WHERE thread_id = %s", (thread,)).fetchone()[0]
                   for t in TABLES)


def text_of(message: dict) -> str:
    content = message.get("content") or ""
    if isinstance(content, str):
        return content
    return " ".join(c.get("text", "") for c in content if c.get("type") == "text")


def seed(home: Path, url: str, turns: list[tuple[str, str]]) -> None:
    """Real turns (remote policy on a scripted loopback server that calls a tool) on Postgres."""
    server = ScriptedRemote("tool")
    a = Assistant(RemotePolicy(base_url=server.url), home, tool_timeout_s=3.0, checkpointer=url)
    try:
        for thread, text in turns:
            a.respond(text=text, thread_id=thread)
    finally:
        a.close()
        server.close()


def test_a_conversation_on_postgres_continues_in_the_next_process(pg_url, tmp_path):
    """`stepvox ask` twice on one thread, each a new process: the second turn's request to the
    policy carries the first turn, loaded from PostgreSQL."""
    home = tmp_path / "home"
    server = ScriptedRemote("echo")
    env = {"STEPVOX_CHECKPOINTER": pg_url}
    try:
        for n, question in enumerate(["my first question", "and a second one"]):
            p = cli(home, "ask", question, "-o", str(tmp_path / f"{n}.wav"), "--thread", "trip",
                    "--policy", "remote", "--remote-url", server.url, "--json", **env)
            assert p.returncode == 0, p.stderr
            assert json.loads(p.stdout)["reply_text"] == f"You said: {question}."
    finally:
        server.close()
    second = server.requests[-1][1]["messages"]
    history = [(m["role"], text_of(m)) for m in second
               if m["role"] in ("human", "assistant") and m.get("eot") is not False]
    assert history == [("human", "my first question"), ("assistant", "You said: my first question."),
                       ("human", "and a second one")]
    listed = cli(home, "threads", "list", "--json", **env)
    assert listed.returncode == 0, listed.stderr
    assert [(t["id"], t["turns"]) for t in json.loads(listed.stdout)] == [("trip", 2)]
    assert not (home / "conversations.sqlite").exists()  # the conversation is in the database
    assert pg_rows(pg_url, "trip") > 0


def test_list_delete_and_prune_on_postgres(pg_url, tmp_path):
    home = tmp_path / "home"
    seed(home, pg_url, [("kitchen", "what time is it"), ("kitchen", "and now?"), ("garage", "what time is it")])
    store = ThreadStore(home, checkpointer=pg_url)
    try:
        assert store.backend.kind == "postgres"
        assert sorted((i.id, i.turns) for i in store.list()) == [("garage", 1), ("kitchen", 2)]
        assert all(i.last_activity and i.audio_bytes > 0 for i in store.list())
        # no such conversation: one line, nothing changed
        before = pg_digest(pg_url)
        with pytest.raises(ThreadError, match="no such conversation"):
            store.delete("cellar")
        assert pg_digest(pg_url) == before
        kitchen = pg_digest(pg_url, "kitchen")
        gone = store.delete("garage")
        assert (gone.id, gone.turns) == ("garage", 1)
        assert store.ids() == ["kitchen"] and pg_rows(pg_url, "garage") == 0
        assert not thread_audio_dir(home / "audio", "garage", create=False).exists()
        assert pg_digest(pg_url, "kitchen") == kitchen  # the other conversation is untouched
        assert store.prune(30 * 86400) == []  # active just now
        later = datetime.now(UTC) + timedelta(days=31)
        assert [i.id for i in store.prune(30 * 86400, now=later)] == ["kitchen"]
        assert store.ids() == [] and pg_rows(pg_url, "kitchen") == 0
    finally:
        store.close()


def test_a_failed_turn_on_postgres_leaves_the_conversation_as_it_was(pg_url, tmp_path):
    home = tmp_path / "home"
    seed(home, pg_url, [("t", "what time is it")])
    before = pg_digest(pg_url)
    # the server fails after the tool ran: the failed turn had written checkpoints and blobs
    server = ScriptedRemote("tool", fail_from=1)
    try:
        a = Assistant(RemotePolicy(base_url=server.url), home, tool_timeout_s=3.0, checkpointer=pg_url)
        head = a.threads.head("t")
        with pytest.raises(PolicyUnavailable):
            a.respond(text="and now?", thread_id="t")
        with pytest.raises(PolicyUnavailable):
            a.respond(text="a new conversation", thread_id="new")  # nothing before it
        assert a.threads.head("t") == head and a.threads.backend.thread_ids() == ["t"]
        a.close()
    finally:
        server.close()
    assert pg_digest(pg_url) == before
    # and the conversation goes on
    server = ScriptedRemote("echo")
    try:
        a = Assistant(RemotePolicy(base_url=server.url), home, tool_timeout_s=3.0, checkpointer=pg_url)
        assert "still there" in a.respond(text="still there?", thread_id="t").reply_text
        assert a.threads.info("t").turns == 2
        a.close()
    finally:
        server.close()


def test_a_checkpointer_object_is_used_as_given_and_left_open(pg_url, tmp_path):
    """A developer's own PostgresSaver: used as is, not closed by the assistant."""
    from langgraph.checkpoint.postgres import PostgresSaver

    server = ScriptedRemote("echo")
    try:
        with PostgresSaver.from_conn_string(pg_url) as saver:
            saver.setup()
            a = Assistant(RemotePolicy(base_url=server.url), tmp_path / "home", tools=[], checkpointer=saver)
            assert a.checkpointer is saver and a.threads.backend.kind == "postgres"
            a.respond(text="hello there", thread_id="mine")
            a.close()
            assert not saver.conn.closed
            tup = saver.get_tuple({"configurable": {"thread_id": "mine", "checkpoint_ns": ""}})
            assert [m.type for m in tup.checkpoint["channel_values"]["messages"]] == ["human", "ai"]
    finally:
        server.close()


def test_any_other_checkpointer_lists_and_undoes_a_failed_turn(tmp_path):
    """A checkpointer with no table of ours (LangGraph's in-memory one): threads are listed
    through its `list`, and a failed turn is undone by restoring the checkpoint it began from."""
    from langgraph.checkpoint.memory import InMemorySaver

    saver = InMemorySaver()
    good, failing = ScriptedRemote("tool"), ScriptedRemote("tool", fail_from=1)
    try:
        a = Assistant(RemotePolicy(base_url=good.url), tmp_path / "home", tool_timeout_s=3.0, checkpointer=saver)
        a.respond(text="what time is it", thread_id="t")
        assert a.threads.backend.kind == "custom" and a.threads.backend.thread_ids() == ["t"]
        before = [(m.type, m.text) for m in a.history("t")]
        a.close()
        b = Assistant(RemotePolicy(base_url=failing.url), tmp_path / "home", tool_timeout_s=3.0, checkpointer=saver)
        with pytest.raises(PolicyUnavailable):
            b.respond(text="and now?", thread_id="t")  # failed after its tool ran
        assert [(m.type, m.text) for m in b.history("t")] == before
        assert b.threads.list()[0].turns == 1
        with pytest.raises(PolicyUnavailable):
            b.respond(text="hello", thread_id="new")
        assert b.threads.backend.thread_ids() == ["t"]
        b.close()
    finally:
        good.close()
        failing.close()
