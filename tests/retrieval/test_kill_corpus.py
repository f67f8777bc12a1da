"""kill -9 at random points of `stepvox corpus add`: after every kill the store opens and is
consistent (every chunk in SQLite is in the committed dense and BM25 index and vice versa),
every add that exited 0 is there, the killed one is wholly there or wholly absent, search
works, and the next add succeeds.

20 kills land on warm CLI processes (forked after the model load: reading, embedding,
waiting for the lock, writing the index files, committing, cleaning up), each started
together with a second add that must commit whole; 3 more on cold `python -m assistant.cli`
processes (imports and model load). Delays are uniform over 1.25x the running median of a
whole add, so kills spread over all of it.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from retrieval import CorpusStore

from .corpus_state import assert_consistent, fact_doc

ROOT = Path(__file__).resolve().parents[2]
WARM_KILLS = 20
COLD_KILLS = 3


def _check(root: Path, acked: dict[str, str], killed: str | None) -> None:
    # straight from the files first: nothing referenced may be half written
    state = assert_consistent(root)
    sources = {d[1] for d in state["documents"]}
    missing = set(acked) - sources
    assert not missing, f"acknowledged adds lost: {sorted(missing)}"
    store = CorpusStore(root)
    sample = random.sample(sorted(acked), min(3, len(acked)))
    if killed in sources:
        sample.append(killed)  # wholly there: searchable like any other
        acked_q = {killed: _question(killed)}
    else:
        acked_q = {}
    for src in sample:
        q = acked.get(src) or acked_q[src]
        hit = store.search(q, top_k=1, mode="bm25")[0]
        assert hit.source == src, (q, hit.source)
    assert store.search("which ferry do visitors arrive on?", top_k=3)
    store.close()


_QUESTIONS: dict[str, str] = {}


def _question(src: str) -> str:
    return _QUESTIONS[src]


def test_kill_corpus_add(tmp_path: Path, forkserver, minilm) -> None:
    seed = int(os.environ.get("KILL_TEST_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    docs_dir = tmp_path / "docs"
    (docs_dir / "base").mkdir(parents=True)
    for j in range(16):  # a store of some size, so index writes take a share of each add
        key = f"zb{j}"
        _QUESTIONS[str(docs_dir / "base" / f"{key}.md")] = fact_doc(
            docs_dir / "base" / f"{key}.md", key, seed=j, paragraphs=4
        )
    singles = []
    for j in range(120):
        key = f"zk{j}"
        p = docs_dir / f"{key}.md"
        _QUESTIONS[str(p)] = fact_doc(p, key, seed=1000 + j)
        singles.append(p)
    home = tmp_path / "home"
    root = home / "corpora"

    def add_argv(path: Path) -> list[str]:
        return ["corpus", "add", str(path), "--name", "k", "--home", str(home)]

    rc, c = forkserver.run(add_argv(docs_dir / "base"))
    assert rc == 0, c.stderr
    acked = {str(p): _QUESTIONS[str(p)] for p in sorted((docs_dir / "base").iterdir())}

    durations: list[float] = []
    fractions: list[float] = []
    it = iter(singles)
    kills = 0
    while kills < WARM_KILLS:
        # two adds at once; one is killed: the other must still commit, whole
        doc, other = next(it), next(it)  # StopIteration here: far too few kills landed
        typical = statistics.median(durations) if durations else 0.5
        delay = rng.uniform(0.0, 1.25 * typical)
        t0 = time.monotonic()
        child = forkserver.start(add_argv(doc))
        bystander = forkserver.start(add_argv(other))
        rc = forkserver.wait(child, delay)
        if rc is None:
            rc = forkserver.kill(child)  # 0 when it finished first
        killed = None
        if rc == -signal.SIGKILL:
            kills += 1
            fractions.append(delay / typical)
            killed = str(doc)
        else:
            assert rc == 0, (seed, child.stderr)
            acked[str(doc)] = _QUESTIONS[str(doc)]
        assert forkserver.wait(bystander, 120) == 0, (seed, bystander.stderr)
        durations.append(time.monotonic() - t0)  # a whole add, in the same company
        acked[str(other)] = _QUESTIONS[str(other)]
        _check(root, acked, killed)

    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    for _ in range(COLD_KILLS):
        doc = next(it)
        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", *add_argv(doc)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            rc = proc.wait(rng.uniform(0.5, 8.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            rc = proc.wait()
            kills += 1
        if rc == 0:
            acked[str(doc)] = _QUESTIONS[str(doc)]
        else:
            assert rc == -signal.SIGKILL, (seed, proc.stderr.read() if proc.stderr else "")
        if proc.stderr:
            proc.stderr.close()
        _check(root, acked, str(doc) if rc else None)

    # the store takes the next add, and nothing acknowledged went missing
    rc, c = forkserver.run(add_argv(next(it)))
    assert rc == 0, c.stderr
    state = assert_consistent(root)
    assert set(acked) <= {d[1] for d in state["documents"]}
    assert not [p.name for p in root.iterdir() if p.name.startswith(".")], "temporaries left"
    assert kills >= WARM_KILLS + 1
    assert min(fractions) < 0.3 and max(fractions) > 0.6, (seed, fractions)  # kills spread over the add
    print(
        f"seed {seed}: {kills} kills, {len(acked)} acknowledged adds, "
        f"median warm add {statistics.median(durations):.2f} s"
    )
