"""SIGKILL at random points of `voices import` (real processes, forked with the models loaded:
`tests/voices/forking.py`). The importer prints `ack <id>` after each voice is committed.
After every kill: the library opens, its database rows equal the entries of each index, every
acknowledged voice is there, no audio copy or temp file is left without a row; a reader keeps
searching while the writer runs; and a later import completes."""

from __future__ import annotations

import random
import time
from pathlib import Path

import faiss
import pytest
import soundfile as sf

from voices import VoiceLibrary
from voices.embedders import TEXT_SPACE

KILLS = 22
FILES = 24


@pytest.fixture(scope="module")
def clips(tmp_path_factory, libri_files) -> Path:
    d = tmp_path_factory.mktemp("kill-clips")
    for f in libri_files[30 : 30 + FILES]:
        y, sr = sf.read(f, dtype="float32")
        sf.write(d / f"{f.stem}.wav", y[: int(1.5 * sr)], sr)
    return d


def _acks(out: Path) -> tuple[list[str], bool]:
    lines = out.read_text().splitlines() if out.exists() else []
    return [ln.split()[1] for ln in lines if ln.startswith("ack ")], "done" in lines


def _check(root: Path, acked: set[str]) -> int:
    """The library after a kill: opens, consistent, holds everything acknowledged."""
    with VoiceLibrary(root) as lib:
        rows = {r[0] for r in lib.store.db.execute("SELECT rowid FROM voices")}
        for space in (lib.speaker_space, TEXT_SPACE):
            st = lib.indexes.ensure(space)
            ids = set(faiss.vector_to_array(st.index.id_map).tolist()) if st.index else set()
            assert ids == rows, space
        ids = {v.id for v in lib.list()}
        assert acked <= ids, sorted(acked - ids)
        hashes = {v.content_hash for v in lib.list()}
        assert {p.stem for p in (root / "audio").rglob("*") if p.is_file()} == hashes
        assert not list((root / "index").glob(".tmp-*"))
        assert not (root / ".writing").exists()  # the dead writer's marker was swept
        return len(ids)


def test_sigkill_at_random_points_of_import(clips, tmp_path, zygote):
    rng = random.Random(17)
    libs, root, acked, total_acks = 0, None, set(), 0
    kills = finished = 0
    started = time.monotonic()
    while kills < KILLS:
        if root is None:  # a fresh library whenever the previous one was fully imported
            libs += 1
            root, acked = tmp_path / f"lib{libs}", set()
        out = tmp_path / f"round{kills + finished}.txt"
        pid = zygote.spawn(out, str(root), str(clips), kind="ack_import")
        # kill after a random number of acknowledged voices plus a random delay: at start-up,
        # while measuring and embedding, committing, saving an index
        target, extra, t0, kill_at = (
            rng.randint(0, 4),
            rng.uniform(0.0, 0.6),
            time.monotonic(),
            None,
        )
        while True:
            new, done = _acks(out)
            now = time.monotonic()
            if kill_at is None and (done or len(new) >= target):
                kill_at = now + extra
            if done or (kill_at is not None and now >= kill_at):
                break
            assert now - t0 < 60, out.read_text()[-2000:]
            if (root / "library.sqlite").exists():  # a reader searches while the writer writes
                with VoiceLibrary(root) as reader:
                    assert len(reader.search(filters={"min_duration": 0}, top_k=100)) >= len(acked)
            time.sleep(0.1)
        code = zygote.kill(pid)
        new, done = _acks(out)
        acked |= set(new)
        total_acks += len(new)
        if done:  # it finished before the kill came
            assert code in (0, -9), out.read_text()[-2000:]
            finished += 1
        else:
            assert code == -9, out.read_text()[-2000:]
            kills += 1
        n = _check(root, acked)
        if done or n == FILES:
            root = None
    assert libs >= 1 and kills == KILLS
    print(
        f"{kills} kills, {finished} rounds finished first, {total_acks} voices acknowledged, {libs} libraries"
    )
    # a later import completes: everything in, nothing twice
    root = root or tmp_path / "final"
    out = tmp_path / "final.txt"
    assert zygote.wait(zygote.spawn(out, str(root), str(clips), kind="ack_import")) == 0
    new, done = _acks(out)
    assert done and _check(root, acked | set(new)) == FILES
    assert time.monotonic() - started < 240
