"""RAG quality on a real document set we did not write: Python's own documentation.

Uses the HTML docs of Debian's `python3-doc` package (installed with apt-get when
missing and allowed), ingests the pages that answer the questions in
benchmarks/data/python_docs_questions.json plus other library pages as distractors,
and prints hit@1 / hit@5 / MRR@5 for dense, BM25 and hybrid (RRF) retrieval side by
side, with hybrid's ratio to each single retriever (the baselines, same run).

    HF_HUB_OFFLINE=1 python benchmarks/rag_quality.py              # 150 pages
    HF_HUB_OFFLINE=1 python benchmarks/rag_quality.py --pages 0    # all library pages

The store is kept in --store (default /tmp/stepvox-bench/rag-quality); a re-run reuses
it (ingest is incremental by content hash).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

QUESTIONS = ROOT / "benchmarks" / "data" / "python_docs_questions.json"


def find_docs(install: bool) -> Path:
    def located() -> Path | None:
        for d in sorted(glob.glob("/usr/share/doc/python3*/html")):
            if Path(d, "library", "json.html").exists():
                return Path(d).resolve()
        return None

    found = located()
    if found is None and install and shutil.which("apt-get"):
        print("installing python3-doc with apt-get ...", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-q", "python3-doc"], env=env, check=False)
        found = located()
    if found is None:
        sys.exit(
            "Python HTML docs not found: install Debian's python3-doc (apt-get install python3-doc)"
        )
    return found


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--pages", type=int, default=150, help="library pages to ingest (0 = all)")
    ap.add_argument("--store", type=Path, default=Path("/tmp/stepvox-bench/rag-quality"))
    ap.add_argument(
        "--embedder", default=None, help="sentence-transformers model (default: offline MiniLM)"
    )
    ap.add_argument(
        "--reranker", default=None, help="cross-encoder model for an extra hybrid+rerank row"
    )
    ap.add_argument(
        "--threads", type=int, default=1, help="torch/FAISS threads (0 = library default)"
    )
    ap.add_argument("--no-install", action="store_true", help="never run apt-get")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()

    from retrieval import CorpusStore

    if args.threads > 0:
        import faiss
        import torch

        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)
    html = find_docs(install=not args.no_install)
    qs = json.loads(QUESTIONS.read_text())["questions"]
    need = sorted({q["source"] for q in qs})
    missing = [p for p in need if not (html / p).exists()]
    if missing:
        sys.exit(f"{html}: pages missing for questions: {missing}")
    library = sorted(
        str(Path(p).relative_to(html)) for p in glob.glob(str(html / "library" / "*.html"))
    )
    extra = [p for p in library if p not in need]
    n_pages = len(library) if args.pages <= 0 else max(args.pages, len(need))
    pages = need + extra[: max(0, n_pages - len(need))]

    store_dir = args.store / (args.embedder or "minilm").replace("/", "_")
    store = CorpusStore(store_dir, embedder=args.embedder, reranker=args.reranker)
    files = [html / p for p in pages]
    t0 = time.perf_counter()
    last = [0.0]

    def progress(i: int, n: int, path: str) -> None:
        if time.perf_counter() - last[0] > 5 or i == n:
            last[0] = time.perf_counter()
            print(f"  parsed {i}/{n} pages", file=sys.stderr)

    rep = store.add(files, name="python-docs", progress=progress)
    # pages ingested by an earlier, larger run are not part of this one
    wanted = {str(f) for f in files}
    for d in store.documents("python-docs"):
        if d["source"] not in wanted:
            store.remove(d["source"])
    ingest_s = time.perf_counter() - t0
    if not (rep.added or rep.updated or rep.removed):
        store.rebuild(embeddings=False)  # BM25 with this machine's tokenizer (PyStemmer or not)
    n_chunks = store.list()[0]["chunks"]
    print(
        f"corpus: {len(pages)} pages of {html} -> {n_chunks} chunks "
        f"({len(rep.added) + len(rep.updated)} embedded now, {len(rep.unchanged)} reused, "
        f"{len(rep.skipped)} skipped) in {ingest_s:.1f} s",
        file=sys.stderr,
    )

    store.search("warm up the models", top_k=5, rerank=bool(args.reranker))
    modes = [("dense", "dense", False), ("bm25", "bm25", False), ("hybrid", "hybrid", False)]
    if args.reranker:
        modes.append(("hybrid+rerank", "hybrid", True))
    results: dict[str, dict] = {}
    per_q: list[dict] = []
    for label, mode, rerank in modes:
        h1 = h5 = 0
        mrr = 0.0
        t = time.perf_counter()
        for q in qs:
            res = store.search(q["question"], top_k=5, mode=mode, rerank=rerank)
            srcs = [str(Path(p.source).relative_to(html)) for p in res]
            rank = srcs.index(q["source"]) + 1 if q["source"] in srcs else 0
            h1 += rank == 1
            h5 += rank > 0
            mrr += 1.0 / rank if rank else 0.0
            per_q.append({"mode": label, "id": q["id"], "rank": rank, "top": srcs[:1]})
        dt = (time.perf_counter() - t) / len(qs)
        n = len(qs)
        results[label] = {
            "hit@1": h1 / n,
            "hit@5": h5 / n,
            "mrr@5": mrr / n,
            "ms_per_query": dt * 1e3,
        }

    n = len(qs)
    print(
        f"\nRAG quality: {n} questions, {len(pages)} Python doc pages, {n_chunks} chunks, embedder {store.embedder_name}"
    )
    print(f"{'retriever':<15} {'hit@1':>7} {'hit@5':>7} {'MRR@5':>7} {'ms/query':>9}")
    for label, r in results.items():
        print(
            f"{label:<15} {r['hit@1']:>7.3f} {r['hit@5']:>7.3f} {r['mrr@5']:>7.3f} {r['ms_per_query']:>9.1f}"
        )
    hy = results["hybrid"]
    for base in ("dense", "bm25"):
        b = results[base]
        r1 = hy["hit@1"] / b["hit@1"] if b["hit@1"] else float("inf")
        r5 = hy["hit@5"] / b["hit@5"] if b["hit@5"] else float("inf")
        print(f"hybrid / {base:<6} hit@1 x{r1:.2f}  hit@5 x{r5:.2f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "pages": len(pages),
                    "chunks": n_chunks,
                    "results": results,
                    "per_question": per_q,
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
