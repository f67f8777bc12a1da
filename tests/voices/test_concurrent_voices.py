"""Two and four `stepvox voices import|add` processes writing into one library at once (real
processes, forked from a zygote that has the models loaded: `tests/voices/forking.py`): the
final library equals what the same commands give one after the other (same voices,
attributes, embeddings and audio), every index holds exactly the database's rows, search
works. The two importers race on one clip that both folders hold."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import faiss
import numpy as np
import pytest
import soundfile as sf

from tests.voices.helpers import run_cli
from voices import VoiceLibrary
from voices import index as vindex
from voices.embedders import TEXT_SPACE


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, libri_files) -> dict[str, Path]:
    """Two folders of 2 s clips of different readers, both starting with the same clip (so
    the two importers race on it); two single clips to `add`."""
    base = tmp_path_factory.mktemp("concurrent")
    out = {}
    for i, f in enumerate(libri_files[20:29]):
        y, sr = sf.read(f, dtype="float32")
        dest = {0: base / "d1", 1: base / "d2", 2: base / "single"}[i // 3]
        dest.mkdir(exist_ok=True)
        sf.write(dest / f"{f.stem}.wav", y[: 2 * sr], sr)
    shared = sorted((base / "single").iterdir())[0]
    for d in ("d1", "d2"):
        shutil.copy(shared, base / d / "000-shared.wav")
        out[d] = base / d
    out["a1"], out["a2"] = sorted((base / "single").iterdir())[1:]
    return out


def _commands(inputs: dict[str, Path], n: int) -> list[list[str]]:
    cmds = [["import", str(inputs["d1"])], ["import", str(inputs["d2"])]]
    if n == 4:
        cmds += [["add", str(inputs["a1"]), "--name", "Ann"], ["add", str(inputs["a2"])]]
    return cmds


@pytest.fixture(scope="module")
def serial(inputs, tmp_path_factory) -> dict[str, dict[str, tuple]]:
    """The state the commands give one after the other (in this process), after the first
    two and after all four (a voice's record does not depend on the voices before it)."""
    root = tmp_path_factory.mktemp("serial") / "lib"
    states = {}
    for i, c in enumerate(_commands(inputs, 4)):
        p = run_cli("voices", *c, "--library", str(root))
        assert p.returncode == 0, p.stderr
        if i + 1 in (2, 4):
            states[i + 1] = _state(root)
    return states


def _state(root: Path) -> dict[str, tuple]:
    """Everything stored about each voice except where it was imported from and when."""
    out = {}
    with VoiceLibrary(root) as lib:
        for v in lib.list():
            rowid = lib.store.row("id=?", (v.id,))["rowid"]
            vecs = [
                lib.store.embeddings(s, rowids=[rowid])[1][0]
                for s in (lib.speaker_space, TEXT_SPACE)
            ]
            attrs = v.model_dump(
                mode="json", exclude={"audio_path", "source", "created", "updated"}
            )
            audio = hashlib.sha256(Path(v.audio_path).read_bytes()).hexdigest()
            out[v.id] = (attrs, vecs, audio)
    return out


def _check_consistent(root: Path) -> None:
    with VoiceLibrary(root) as lib:
        rows = {r[0] for r in lib.store.db.execute("SELECT rowid FROM voices")}
        for space in (lib.speaker_space, TEXT_SPACE):
            # on disk (the text index is only built by a text search): readable, no foreign id
            loaded = vindex.load(lib.indexes.path(space))
            assert loaded is not None or space == TEXT_SPACE
            if loaded is not None:
                assert set(faiss.vector_to_array(loaded[0].id_map).tolist()) <= rows
            st = lib.indexes.ensure(space)
            assert set(faiss.vector_to_array(st.index.id_map).tolist()) == rows
        for v in lib.list()[:3]:
            assert lib.search(audio=[v.audio_path], top_k=1)[0].id == v.id
        stored = {p.stem for p in (root / "audio").rglob("*") if p.is_file()}
        assert stored == {v.content_hash for v in lib.list()}
    assert not (root / ".writing").exists()


@pytest.mark.parametrize("n", [2, 4])
def test_concurrent_writers_equal_serial(n, inputs, serial, tmp_path, zygote):
    cmds = _commands(inputs, n)
    together = tmp_path / "together"
    pids = [
        zygote.spawn(tmp_path / f"out{i}.txt", "voices", *c, "--library", str(together))
        for i, c in enumerate(cmds)
    ]
    for i, (c, pid) in enumerate(zip(cmds, pids, strict=True)):
        assert zygote.wait(pid) == 0, (c, (tmp_path / f"out{i}.txt").read_text()[-2000:])

    want, got = serial[n], _state(together)
    assert sorted(got) == sorted(want) and len(want) == 7 + (2 if n == 4 else 0)
    for vid, (attrs, vecs, audio) in want.items():
        assert got[vid][0] == attrs, vid
        assert got[vid][2] == audio, vid
        for a, b in zip(got[vid][1], vecs, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5)
    _check_consistent(together)
