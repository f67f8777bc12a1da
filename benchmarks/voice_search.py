"""Voice search at scale: FAISS index chosen by `voices.index.choose_kind` vs exact flat search
(the baseline) on synthetic speaker embeddings, measured in the same run.

Synthetic data: unit vectors clustered like speaker embeddings (n/10 "speakers", 10 clips each,
within-speaker cosine about 0.8), 256-d like resemblyzer. Queries are fresh clips of random
speakers. Reports build time, index memory, query latency (median, p99, one query at a time)
and recall@10 against the exact flat results.

    python benchmarks/voice_search.py            # n = 1,000,000
    python benchmarks/voice_search.py --n 100000 --kinds flat,hnsw,ivf
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from voices import index as vindex  # noqa: E402


def synthetic(n: int, d: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_spk = max(1, n // 10)
    centers = rng.standard_normal((n_spk, d), dtype=np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    sigma = 0.5 / np.sqrt(d)  # within-speaker cosine ~ 0.8
    x = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        x[s:e] = centers[np.arange(s, e) % n_spk] + sigma * rng.standard_normal(
            (e - s, d), dtype=np.float32
        )
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q = centers[rng.integers(0, n_spk, n_queries)] + sigma * rng.standard_normal(
        (n_queries, d), dtype=np.float32
    )
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return x, q


def index_bytes(index: faiss.Index) -> int:
    return int(faiss.serialize_index(index).nbytes)


def measure(kind: str, x: np.ndarray, q: np.ndarray, truth: np.ndarray | None, k: int) -> dict:
    ids = np.arange(len(x), dtype=np.int64)
    t0 = time.perf_counter()
    index = vindex.build_index(x, ids, kind=kind)
    build = time.perf_counter() - t0
    build_threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # latency of one query at a time, on one core
    lat = []
    found = np.empty((len(q), k), dtype=np.int64)
    for i in range(len(q)):
        t = time.perf_counter()
        _, hit_ids = index.search(q[i : i + 1], k)
        lat.append(time.perf_counter() - t)
        found[i] = hit_ids[0]
    faiss.omp_set_num_threads(build_threads)
    lat_ms = np.array(lat) * 1000
    recall = None
    if truth is not None:
        recall = float(
            np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth, strict=True)])
        )
    extra = ""
    if kind == "ivf":
        ivf = faiss.extract_index_ivf(index)
        extra = f"nlist={ivf.nlist} nprobe={ivf.nprobe}"
    if kind == "hnsw":
        extra = "M=32 efC=80 efS=128"
    return {
        "kind": kind,
        "build_s": build,
        "mem_mb": index_bytes(index) / 2**20,
        "p50_ms": float(np.median(lat_ms)),
        "p99_ms": float(np.percentile(lat_ms, 99)),
        "recall": recall,
        "params": extra,
        "found": found,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=float, default=1e6, help="number of embeddings (default 1e6)")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument(
        "--kinds",
        default=None,
        help="comma list of flat,hnsw,ivf (default: flat + the size's choice)",
    )
    ap.add_argument("--threads", type=int, default=0, help="faiss threads for building (0: all)")
    args = ap.parse_args()
    n = int(args.n)
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    chosen = vindex.choose_kind(n)
    kinds = (
        args.kinds.split(",") if args.kinds else ["flat", chosen] if chosen != "flat" else ["flat"]
    )
    if "flat" not in kinds:
        kinds = ["flat", *kinds]
    t = time.perf_counter()
    x, q = synthetic(n, args.dim, args.queries)
    print(
        f"n={n:,} d={args.dim} queries={args.queries} k={args.k} faiss={faiss.__version__} build threads={faiss.omp_get_max_threads()}, query threads=1 (data {time.perf_counter() - t:.1f}s); size choice: {chosen}"
    )
    rows = []
    base = measure("flat", x, q, None, args.k)
    base["recall"] = 1.0
    rows.append(base)
    for kind in kinds:
        if kind != "flat":
            rows.append(measure(kind, x, q, base["found"], args.k))
    hdr = f"{'index':<6} {'build s':>8} {'memory MB':>10} {'p50 ms':>8} {'p99 ms':>8} {'recall@10':>9} {'p50 speedup vs flat':>20}  params"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(
            f"{r['kind']:<6} {r['build_s']:>8.1f} {r['mem_mb']:>10.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['recall']:>9.3f} {base['p50_ms'] / r['p50_ms']:>19.1f}x  {r['params']}"
        )


if __name__ == "__main__":
    main()
