"""Retention: `stepvox threads list|delete`, `stepvox prune --older-than`, STEPVOX_RETENTION_DAYS
on real homes filled by real turns (remote policy on a scripted loopback server, spoken and
typed); every recording belongs to its thread and goes with it; private file modes."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from langchain_core.messages import AIMessage

from agents import Assistant
from agents.graph import build_graph
from agents.messages import to_langchain
from agents.recordings import thread_audio_dir, write_wav
from agents.threads import ThreadStore
from core.settings import load_settings
from model.messages import AudioPart, Message
from tests.agents.conversation_checks import seed, stored_messages
from tests.agents.scripted_remote import ScriptedRemote

ROOT = Path(__file__).resolve().parents[2]


def cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    e = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
         "STEPVOX_HOME": str(home), "HF_HUB_OFFLINE": "1", **env}
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], capture_output=True,
                          text=True, env=e, cwd=ROOT, timeout=240)


@pytest.fixture(scope="module")
def seed_home(tmp_path_factory, speak):
    """Thread "kitchen": a spoken turn and a typed one; thread "garage": one typed turn."""
    home = tmp_path_factory.mktemp("seed") / "home"
    seed(home, [("kitchen", speak("What time is it?")), ("kitchen", "and now?"),
                ("garage", "what time is it")])
    return home


@pytest.fixture
def home(seed_home, tmp_path):
    h = tmp_path / "home"
    shutil.copytree(seed_home, h)
    return h


def recordings(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home / "audio")) for p in (home / "audio").rglob("*") if p.is_file())


def test_every_recording_is_in_its_threads_directory_and_private(home):
    kitchen = thread_audio_dir(home / "audio", "kitchen", create=False)
    garage = thread_audio_dir(home / "audio", "garage", create=False)
    files = recordings(home)
    assert files and all(f.startswith((kitchen.name + "/", garage.name + "/")) for f in files)
    names = [Path(f).name for f in files if f.startswith(kitchen.name)]
    assert sum(n.startswith("in-") and n.endswith("-vad.wav") for n in names) == 1  # the spoken turn
    assert sum(n.startswith("reply-") for n in names) == 2
    # the stored user message points at the recording in the thread's directory (of the
    # home the turn ran in: this one is a copy)
    spoken = stored_messages(home, "kitchen")[0]
    assert Path(spoken.additional_kwargs["stepvox_parts"][0]["path"]).parent.name == kitchen.name
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    for name in ("conversations.sqlite", "conversations.sqlite-wal", "conversations.sqlite-shm"):
        if (home / name).exists():
            assert mode(home / name) == 0o600, name
    assert mode(home / "audio") == 0o700 and mode(kitchen) == 0o700 and mode(home / "locks") == 0o700
    assert all(mode(p) == 0o600 for p in (home / "audio").rglob("*") if p.is_file())


def test_files_left_world_readable_by_earlier_versions_are_made_private(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    db = home / "conversations.sqlite"
    db.touch()
    os.chmod(db, 0o644)
    store = ThreadStore(home)  # open: the -wal and -shm files exist
    try:
        for name in ("conversations.sqlite", "conversations.sqlite-wal", "conversations.sqlite-shm"):
            assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    finally:
        store.close()


def test_threads_list_shows_id_turns_last_activity_and_audio_size(home):
    p = cli(home, "threads", "list", "--json")
    assert p.returncode == 0, p.stderr
    doc = {d["id"]: d for d in json.loads(p.stdout)}
    assert set(doc) == {"kitchen", "garage"}
    assert doc["kitchen"]["turns"] == 2 and doc["garage"]["turns"] == 1
    kitchen_dir = thread_audio_dir(home / "audio", "kitchen", create=False)
    assert doc["kitchen"]["audio_bytes"] == sum(f.stat().st_size for f in kitchen_dir.iterdir())
    assert doc["kitchen"]["audio_bytes"] > 100_000
    last = datetime.fromisoformat(doc["garage"]["last_activity"])
    assert timedelta(0) <= datetime.now(UTC) - last < timedelta(minutes=30)
    p = cli(home, "threads", "list")
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["THREAD", "TURNS", "LAST", "ACTIVITY", "AUDIO", "WAITING"]
    assert lines[1].split()[:2] == ["garage", "1"] and lines[2].split()[:2] == ["kitchen", "2"]


def test_threads_delete_removes_the_conversation_and_its_recordings_only(home):
    garage_before = recordings(home)
    p = cli(home, "threads", "delete", "kitchen")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("deleted thread 'kitchen': 2 turns, ")
    assert stored_messages(home, "kitchen") == []
    assert not thread_audio_dir(home / "audio", "kitchen", create=False).exists()
    assert recordings(home) == [f for f in garage_before if f.startswith("garage.")]
    assert len(stored_messages(home, "garage")) == 4
    p = cli(home, "threads", "list", "--json")
    assert [d["id"] for d in json.loads(p.stdout)] == ["garage"]


def test_prune_removes_idle_conversations_with_their_recordings(home):
    p = cli(home, "prune", "--older-than", "30d")
    assert p.returncode == 0 and "nothing to prune" in p.stdout
    assert len(recordings(home)) > 0
    time.sleep(1.1)
    p = cli(home, "prune", "--older-than", "1s", "--json")
    assert p.returncode == 0, p.stderr
    assert sorted(d["id"] for d in json.loads(p.stdout)) == ["garage", "kitchen"]
    assert recordings(home) == [] and ThreadStore(home).ids() == []


def test_prune_keeps_what_was_active_within_the_period(home):
    store = ThreadStore(home)
    try:
        later = datetime.now(UTC) + timedelta(days=31)
        assert store.prune(30 * 86400, now=later - timedelta(days=2)) == []  # 29 days idle
        gone = store.prune(30 * 86400, now=later)
        assert sorted(i.id for i in gone) == ["garage", "kitchen"]
    finally:
        store.close()


class TurnBeforeTheLock(ThreadStore):
    """The real store; a real turn on "kitchen" finishes between prune's listing and its lock
    (the interleaving the security review found: the turn just answered must not be pruned)."""

    def lock(self, thread_id, wait_s=None):
        if thread_id == "kitchen" and not getattr(self, "_done", False):
            self._done = True
            seed(self.audio_dir.parent, [("kitchen", "one more thing")])
        return super().lock(thread_id, wait_s)


def test_prune_looks_again_under_the_lock(home):
    time.sleep(1.1)
    store = TurnBeforeTheLock(home)
    try:
        gone = store.prune(1.0)
        assert [i.id for i in gone] == ["garage"]
        assert store.ids() == ["kitchen"] and store.info("kitchen").turns == 3
    finally:
        store.close()


def test_retention_days_prunes_when_an_assistant_opens(home):
    time.sleep(1.2)
    server = ScriptedRemote("echo")
    settings = load_settings(home=home, policy="remote", remote_url=server.url, retention_days=1 / 86400)
    try:
        a = Assistant.from_settings(settings)
        assert a.threads.ids() == [] and recordings(home) == []
        a.respond(text="a new one", thread_id="fresh")  # and it works on
        assert a.threads.ids() == ["fresh"]
        a.close()
    finally:
        server.close()


def test_recordings_of_earlier_versions_go_with_the_thread_that_refers_to_them(home):
    """Versions before per-thread directories wrote recordings straight into audio/."""
    legacy = {name: write_wav(home / "audio" / name, np.zeros(1600, np.float32), 16000)
              for name in ("in-old1.wav", "in-old1-vad.wav", "in-shared-vad.wav", "in-shared.wav")}
    store = ThreadStore(home)
    graph = build_graph(None, [], store.saver)  # type: ignore[arg-type]  # stored, not run
    for thread, name in (("old", "in-old1-vad.wav"), ("old", "in-shared-vad.wav"),
                         ("other", "in-shared-vad.wav")):
        user = Message(role="user", parts=[AudioPart(path=str(legacy[name]), sample_rate=16000)])
        graph.update_state({"configurable": {"thread_id": thread}},
                           {"messages": [to_langchain(user), AIMessage(content="ok")]}, as_node="respond")
    assert store.info("old").audio_bytes == 4 * legacy["in-old1.wav"].stat().st_size
    store.delete("old")
    store.close()
    assert not legacy["in-old1.wav"].exists() and not legacy["in-old1-vad.wav"].exists()
    assert legacy["in-shared.wav"].exists() and legacy["in-shared-vad.wav"].exists()  # "other"'s too
