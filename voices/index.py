"""FAISS indexes over unit-norm embeddings (inner product = cosine), chosen by size, saved with
a checksum in one file written atomically, so that a damaged file is detected and rebuilt
from SQLite.

Choice by number of vectors n (see docs/voices.md for the measurements behind it):
  n <= FLAT_MAX   exact IndexFlatIP (a few ms per query at this size, nothing to train)
  n >  FLAT_MAX   IVF-Flat, nlist ~ 2*sqrt(n) (a power of two), nprobe = nlist/16 (>= 32);
                  k-means on 40 points per list, 10 iterations
HNSW (M=32, efConstruction 80, efSearch 128) is available as kind="hnsw"; on this project's
2-core machines it built ~30x slower than IVF at 100k vectors for no recall gain that
matters, so the size rule does not pick it.
All are wrapped so that ids are the SQLite rowids of the voices.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import faiss
import numpy as np

FLAT_MAX = 50_000


def choose_kind(n: int) -> str:
    return "flat" if n <= FLAT_MAX else "ivf"


def ivf_params(n: int) -> tuple[int, int]:
    nlist = int(max(64, min(65536, 2 * np.sqrt(max(n, 1)))))
    nlist = 1 << int(round(np.log2(nlist)))
    return nlist, max(32, nlist // 16)


def build_index(
    vecs: np.ndarray, ids: np.ndarray, kind: str | None = None, nprobe: int | None = None
) -> faiss.Index:
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    n, d = vecs.shape
    kind = kind or choose_kind(n)
    if kind == "flat":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(d))
    elif kind == "hnsw":
        hnsw = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 80
        hnsw.hnsw.efSearch = 128
        index = faiss.IndexIDMap2(hnsw)
    elif kind == "ivf":
        nlist, default_probe = ivf_params(n)
        quant = faiss.IndexFlatIP(d)
        ivf = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.niter = 10
        rng = np.random.default_rng(0)
        train = vecs if n <= nlist * 40 else vecs[np.sort(rng.choice(n, nlist * 40, replace=False))]
        ivf.train(train)
        ivf.nprobe = nprobe or default_probe
        index = ivf
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    if n:
        index.add_with_ids(vecs, ids)
    return index


def index_kind(index: faiss.Index) -> str:
    base = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap2) else index
    if isinstance(base, faiss.IndexHNSWFlat):
        return "hnsw"
    if isinstance(base, faiss.IndexIVF):
        return "ivf"
    return "flat"


def search(index: faiss.Index, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    q = np.ascontiguousarray(np.atleast_2d(q), dtype=np.float32)
    k = max(1, min(k, index.ntotal))
    scores, ids = index.search(q, k)
    return scores, ids


MAGIC = b"stepvox-faiss/2\n"  # then 8-byte little-endian header length, JSON header, FAISS bytes


def save(index: faiss.Index, path: Path, meta: dict[str, Any]) -> None:
    """Write the index and its meta (database generation, sha256 of the FAISS bytes) as one
    file, atomically: temp file in the same folder (mode 0600), fsync, rename. A reader sees
    the old file or the new one, never a mix."""
    payload = faiss.serialize_index(index).tobytes()
    meta = {**meta, "sha256": hashlib.sha256(payload).hexdigest(), "ntotal": int(index.ntotal)}
    header = json.dumps(meta).encode()
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".faiss", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC + len(header).to_bytes(8, "little") + header)
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    Path(str(path) + ".json").unlink(missing_ok=True)  # sidecar of the previous format


class CorruptIndex(Exception):
    pass


def load(path: Path) -> tuple[faiss.Index, dict[str, Any]] | None:
    """(index, meta), None when absent; CorruptIndex when the file is not in this format, does
    not match its checksum or cannot be read."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise CorruptIndex(f"{path}: unreadable ({e})") from None
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 8:
        raise CorruptIndex(f"{path}: not an index file of this version")
    at = len(MAGIC) + 8
    n = int.from_bytes(data[len(MAGIC) : at], "little")
    try:
        meta = json.loads(data[at : at + n])
        if not isinstance(meta, dict):
            raise ValueError("header is not an object")
    except ValueError as e:
        raise CorruptIndex(f"{path}: unreadable header ({e})") from None
    payload = data[at + n :]
    if hashlib.sha256(payload).hexdigest() != meta.get("sha256"):
        raise CorruptIndex(f"{path}: checksum mismatch")
    try:
        index = faiss.deserialize_index(np.frombuffer(payload, dtype=np.uint8))
    except Exception as e:  # faiss raises RuntimeError on garbage
        raise CorruptIndex(f"{path}: cannot read index ({e})") from None
    if index.ntotal != meta.get("ntotal"):
        raise CorruptIndex(f"{path}: {index.ntotal} vectors, header says {meta.get('ntotal')}")
    if index_kind(index) == "ivf":
        faiss.extract_index_ivf(index).nprobe = meta.get("nprobe", ivf_params(index.ntotal)[1])
    return index, meta
