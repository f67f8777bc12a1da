"""RAG at scale: a store of N chunks (default 100,000), against brute-force numpy.

Measured in one run, on this machine:
  * ingest throughput of the full pipeline (files -> parse -> chunk -> embed -> FAISS,
    BM25, SQLite) on a real sample of `--sample` chunks, in chunks/s;
  * bulk index build for the rest: the remaining chunks' vectors are the sample's
    MiniLM vectors, perturbed (embedding 100k chunks on 2 CPU cores would take hours;
    the table shows that time extrapolated from the measured throughput), added through
    `CorpusStore.add_embedded` (SQLite + FAISS + BM25, one generation);
  * query latency, median and p99, each including the query embedding: store.search
    dense and hybrid, and the baseline: brute-force numpy (embed the query, one matmul
    over the N x d matrix, argpartition top-k), with the ratios;
  * memory: resident-set growth for loading the store's indexes vs the numpy matrix,
    measured in a fresh process, and the size on disk.

    HF_HUB_OFFLINE=1 python benchmarks/rag_scale.py              # 100k chunks
    HF_HUB_OFFLINE=1 python benchmarks/rag_scale.py --n 20000    # quicker
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def source_paragraphs(limit: int) -> list[str]:
    """Real English technical prose: paragraphs of Python's HTML docs when installed,
    else sentences generated from a fixed vocabulary."""
    from retrieval.loaders import load_file

    paras: list[str] = []
    for d in sorted(glob.glob("/usr/share/doc/python3*/html/library")):
        for f in sorted(glob.glob(f"{d}/*.html")):
            try:
                doc = load_file(Path(f))
            except Exception:  # noqa: BLE001
                continue
            paras += [b.text for b in doc.blocks if b.kind == "para" and len(b.text) > 80]
            if len(paras) >= limit:
                return paras[:limit]
        break
    rng = random.Random(0)
    words = (
        "index vector query store corpus chunk embed search rank score file folder page "
        "section heading paragraph token model voice audio speech text answer source python "
        "thread process memory latency cache graph node tool policy router server client"
    ).split()
    while len(paras) < limit:
        paras.append(" ".join(rng.choice(words) for _ in range(rng.randint(40, 140))) + ".")
    return paras


def write_sample_files(dirpath: Path, paras: list[str], per_file: int = 12) -> None:
    dirpath.mkdir(parents=True, exist_ok=True)
    for i in range(0, len(paras), per_file):
        body = [f"# Sample document {i // per_file}\n"]
        for j, p in enumerate(paras[i : i + per_file]):
            body.append(f"## Part {j}\n\n{p}\n")
        (dirpath / f"doc{i // per_file:05d}.md").write_text("\n".join(body), encoding="utf-8")


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def query_phase(store_dir: str, matrix: str, queries: list[str], top_k: int) -> dict:
    """Runs in a fresh process: memory and latency."""
    import bm25s  # noqa: F401  (imports are not the index's memory)
    import faiss
    import torch

    threads = int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
        faiss.omp_set_num_threads(threads)

    from retrieval import CorpusStore
    from retrieval.embedding import Embedder

    emb = Embedder()
    emb.encode(["warm up the model"])
    base = rss_mb()
    store = CorpusStore(store_dir)
    store._embedder = emb  # share the already loaded model (same name, same weights)
    store.search("warm up", top_k=top_k)
    store_mb = rss_mb() - base
    base2 = rss_mb()
    mat = np.load(matrix)
    mat += 0  # touch every page
    numpy_mb = rss_mb() - base2

    def timed_all(fns: dict) -> dict[str, list[float]]:
        """Interleaved: each query runs every method (rotating order), so load swings on a
        shared machine hit all methods alike."""
        out: dict[str, list[float]] = {k: [] for k in fns}
        names = list(fns)
        for i, q in enumerate(queries):
            for k in names[i % len(names) :] + names[: i % len(names)]:
                t = time.perf_counter()
                fns[k](q)
                out[k].append((time.perf_counter() - t) * 1e3)
        return out

    def brute(q: str) -> list[int]:
        v = emb.encode([q])[0]
        sims = mat @ v
        top = np.argpartition(-sims, top_k)[:top_k]
        return top[np.argsort(-sims[top])].tolist()

    lat = timed_all(
        {
            "embed only": lambda q: emb.encode([q]),
            "numpy brute force": brute,
            "store dense": lambda q: store.search(q, top_k=top_k, mode="dense"),
            "store hybrid": lambda q: store.search(q, top_k=top_k, mode="hybrid"),
        }
    )
    qv = {q: v for q, v in zip(queries, emb.encode(queries), strict=True)}

    def raw_numpy(q: str) -> None:
        sims = mat @ qv[q]
        np.argpartition(-sims, top_k)[:top_k]

    lat.update(
        timed_all(
            {
                "vector search only: numpy": raw_numpy,
                "vector search only: faiss": lambda q: store._indexes().dense.search(qv[q][None, :], top_k),
            }
        )
    )
    faiss_top = store._indexes().dense.search(qv[queries[0]][None, :], top_k)[1][0].tolist()
    # agreement: FAISS exact search returns the same top-k as numpy (vectors are the same)
    ids_numpy = [int(store._indexes().bm25_ids[i]) for i in brute(queries[0])]
    return {
        "same_top_k": ids_numpy == faiss_top,
        "dim": int(mat.shape[1]),
        "load_avg": os.getloadavg()[0],
        "store_mb": store_mb,
        "numpy_mb": numpy_mb,
        "latency_ms": {
            k: {"median": percentile(v, 50), "p99": percentile(v, 99)} for k, v in lat.items()
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=100_000, help="chunks in the store")
    ap.add_argument(
        "--sample", type=int, default=300, help="chunks ingested through the full pipeline"
    )
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument(
        "--threads", type=int, default=1,
        help="BLAS/OpenMP/torch threads for the query phase (1 = best for single queries on a busy box)",
    )  # fmt: skip
    ap.add_argument(
        "--workdir", type=Path, default=None, help="keep the store here (default: a temp dir)"
    )
    ap.add_argument("--_query-phase", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args._query_phase:
        store_dir, matrix, qfile = args._query_phase
        queries = json.loads(Path(qfile).read_text())
        print(json.dumps(query_phase(store_dir, matrix, queries, args.top_k)))
        return

    from retrieval import CorpusStore, PendingDocument
    from retrieval.chunking import Chunk

    n, sample = args.n, min(args.sample, args.n)
    tmp = Path(args.workdir or tempfile.mkdtemp(prefix="stepvox-rag-scale-"))
    tmp.mkdir(parents=True, exist_ok=True)
    store_dir = tmp / "corpora"
    if store_dir.exists():
        import shutil

        shutil.rmtree(store_dir)
    paras = source_paragraphs(max(sample, 2000))
    rng = random.Random(0)

    # 1. the full pipeline on a real sample
    files_dir = tmp / "sample"
    write_sample_files(files_dir, paras[:sample])
    store = CorpusStore(store_dir)
    store.embedder.encode(["load the model before timing"])
    t = time.perf_counter()
    rep = store.add([files_dir], name="scale")
    ingest_s = time.perf_counter() - t
    n_sample_chunks = rep.chunks_added
    throughput = n_sample_chunks / ingest_s
    print(f"pipeline ingest: {n_sample_chunks} chunks in {ingest_s:.1f} s", file=sys.stderr)

    # 2. bulk: the rest with perturbed copies of the sample's vectors
    ix = store._indexes()
    base = np.stack([ix.dense.reconstruct(int(i)) for i in ix.bm25_ids])
    base_texts = [p for p in paras]
    rest = n - n_sample_chunks
    docs: list[PendingDocument] = []
    per_doc = 20
    gen = np.random.default_rng(0)
    t = time.perf_counter()
    for d0 in range(0, rest, per_doc):
        m = min(per_doc, rest - d0)
        idx = gen.integers(0, len(base), size=m)
        vec = base[idx] + gen.normal(
            0, 0.25 / np.sqrt(base.shape[1]), size=(m, base.shape[1])
        ).astype(np.float32)
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        chunks = []
        pos = 0
        for j in range(m):
            txt = f"{base_texts[rng.randrange(len(base_texts))]} (record {d0 + j})"
            chunks.append(Chunk(section=f"Part {j}", text=txt, start=pos, end=pos + len(txt)))
            pos += len(txt) + 2
        docs.append(
            PendingDocument(
                source=f"/bulk/doc{d0 // per_doc:06d}.md", title=f"Bulk document {d0 // per_doc}",
                kind="markdown", sha256=f"{d0:064x}", size=pos, chunks=chunks, vectors=vec,
            )
        )  # fmt: skip
    gen_s = time.perf_counter() - t
    t = time.perf_counter()
    store.add_embedded(docs, name="scale")
    bulk_s = time.perf_counter() - t
    total = store.list()[0]["chunks"]
    print(
        f"bulk index build: {rest} chunks in {bulk_s:.1f} s (+{gen_s:.1f} s generating)",
        file=sys.stderr,
    )

    # the same vectors, as one numpy matrix for the baseline
    ix = store._indexes()
    mat = np.stack([ix.dense.reconstruct(int(i)) for i in ix.bm25_ids]).astype(np.float32)
    np.save(tmp / "matrix.npy", mat)
    disk = {
        "sqlite": sum(p.stat().st_size for p in store_dir.glob("corpus.sqlite*")),
        "faiss": sum(p.stat().st_size for p in store_dir.glob("dense-*.faiss")),
        "bm25": sum(p.stat().st_size for d in store_dir.glob("bm25-*") for p in d.iterdir()),
    }
    del store, docs, mat, base

    # 3. queries: the benchmark's questions plus sample sentences, in a fresh process
    qs: list[str] = []
    qfile = ROOT / "benchmarks" / "data" / "python_docs_questions.json"
    if qfile.exists():
        qs = [q["question"] for q in json.loads(qfile.read_text())["questions"]]
    while len(qs) < args.queries:
        words = paras[rng.randrange(len(paras))].split()
        s = rng.randrange(max(1, len(words) - 12))
        qs.append(" ".join(words[s : s + 12]))
    qs = qs[: args.queries]
    (tmp / "queries.json").write_text(json.dumps(qs))
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    out = subprocess.run(
        [sys.executable, __file__, "--top-k", str(args.top_k), "--_query-phase",
         str(store_dir), str(tmp / "matrix.npy"), str(tmp / "queries.json")],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    res = json.loads(out.stdout.strip().splitlines()[-1])
    lat = res["latency_ms"]

    print(
        f"\nRAG scale: {total:,} chunks, dim {res['dim']}, {len(qs)} queries, top-{args.top_k}, "
        f"{os.cpu_count()} CPU cores, {args.threads} query thread(s) (load average {res['load_avg']:.1f}); "
        f"FAISS top-k == numpy top-k: {res['same_top_k']}"
    )
    print(f"{'ingest':<34} {'value':>14}")
    print(
        f"{'full pipeline (sample)':<34} {throughput:>10.1f} chunks/s  ({n_sample_chunks} chunks, {ingest_s:.1f} s)"
    )
    print(f"{f'  -> {total:,} chunks extrapolated':<34} {total / throughput / 60:>10.1f} min")
    print(
        f"{'bulk index build (pre-embedded)':<34} {rest / bulk_s:>10.0f} chunks/s  ({rest:,} chunks, {bulk_s:.1f} s)"
    )
    print(f"\n{'query latency (ms)':<34} {'median':>8} {'p99':>8} {'median vs numpy':>16}")
    ref = lat["numpy brute force"]["median"]
    for k in ("embed only", "numpy brute force", "store dense", "store hybrid"):
        v = lat[k]
        print(f"{k:<34} {v['median']:>8.2f} {v['p99']:>8.2f} {v['median'] / ref:>15.2f}x")
    rn = lat["vector search only: numpy"]["median"]
    for k in ("vector search only: numpy", "vector search only: faiss"):
        v = lat[k]
        print(f"{k:<34} {v['median']:>8.2f} {v['p99']:>8.2f} {v['median'] / rn:>15.2f}x")
    print(f"\n{'memory':<34} {'MB':>8}")
    print(f"{'store loaded (RSS growth)':<34} {res['store_mb']:>8.1f}")
    print(
        f"{'numpy matrix (RSS growth)':<34} {res['numpy_mb']:>8.1f}   ratio {res['store_mb'] / max(res['numpy_mb'], 1e-6):.2f}x"
    )
    for k, v in disk.items():
        print(f"{'on disk: ' + k:<34} {v / 1e6:>8.1f}")


if __name__ == "__main__":
    main()
