"""FAISS index choice, recall against exact search, checksummed save/load."""

from __future__ import annotations

import numpy as np
import pytest

from voices import index as vindex


def clustered(n: int, d: int = 64, per: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n // per, d)).astype(np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    sigma = 0.5 / np.sqrt(d)
    x = centers[np.arange(n) % len(centers)] + sigma * rng.standard_normal((n, d)).astype(
        np.float32
    )
    q = centers[rng.integers(0, len(centers), 100)] + sigma * rng.standard_normal((100, d)).astype(
        np.float32
    )
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return x, q


def recall_at_10(index, exact, q) -> float:
    _, a = index.search(q, 10)
    _, b = exact.search(q, 10)
    return float(np.mean([len(set(x) & set(y)) / 10 for x, y in zip(a, b, strict=True)]))


def test_choice_by_size():
    assert vindex.choose_kind(10) == "flat"
    assert vindex.choose_kind(vindex.FLAT_MAX) == "flat"
    assert vindex.choose_kind(vindex.FLAT_MAX + 1) == "ivf"
    nlist, nprobe = vindex.ivf_params(1_000_000)
    assert nlist == 2048 and nprobe == 128


@pytest.mark.parametrize("kind,n", [("ivf", 60_000), ("hnsw", 4_000)])
def test_ann_recall_at_10(kind, n):
    x, q = clustered(n)
    ids = np.arange(100, 100 + n, dtype=np.int64)  # ids are SQLite rowids, not positions
    exact = vindex.build_index(x, ids, kind="flat")
    ann = vindex.build_index(x, ids, kind=kind)
    assert vindex.index_kind(ann) == kind
    assert recall_at_10(ann, exact, q) >= 0.95


def test_save_load_and_corruption(tmp_path):
    x, q = clustered(2000)
    idx = vindex.build_index(x, np.arange(2000, dtype=np.int64))
    path = tmp_path / "i.faiss"
    vindex.save(idx, path, {"gen": 3})
    loaded, meta = vindex.load(path)
    assert meta["gen"] == 3 and loaded.ntotal == 2000
    assert vindex.load(tmp_path / "absent.faiss") is None
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["i.faiss"]  # one file, no temp left
    good = path.read_bytes()
    data = bytearray(good)
    data[-100] ^= 0xFF  # in the FAISS bytes
    path.write_bytes(bytes(data))
    with pytest.raises(vindex.CorruptIndex, match="checksum"):
        vindex.load(path)
    data = bytearray(good)
    data[len(vindex.MAGIC) + 12] ^= 0xFF  # in the header
    path.write_bytes(bytes(data))
    with pytest.raises(vindex.CorruptIndex, match="header|checksum"):
        vindex.load(path)
    path.write_bytes(good[: len(good) // 2])  # cut short
    with pytest.raises(vindex.CorruptIndex, match="checksum"):
        vindex.load(path)
