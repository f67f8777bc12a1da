"""Speaker embedders: timbre by resemblyzer (default) or CAM++ from a token2wav folder. Models
load lazily, once per process. Description text is embedded by the project's shared
`core.text_embedding` embedder (all-MiniLM-L6-v2)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from voices.audio import ANALYSIS_RATE
from voices.fbank import kaldi_fbank

TEXT_SPACE = "text:minilm"  # the description embeddings (core.text_embedding MiniLM)
TEXT_DIM = 384  # all-MiniLM-L6-v2

_LOCK = threading.Lock()
_CACHE: dict[str, object] = {}


def l2norm(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, 1e-12)


class SpeakerEmbedder(Protocol):
    name: str  # also the embedding space key: "speaker:<name>"
    dim: int

    def embed(self, y16: np.ndarray) -> np.ndarray:
        """Unit-norm float32 embedding of a mono 16 kHz clip."""
        ...


class ResemblyzerEmbedder:
    """GE2E d-vector (256-d) from the encoder the resemblyzer package ships."""

    name = "resemblyzer"
    dim = 256

    def _encoder(self):
        with _LOCK:
            enc = _CACHE.get("resemblyzer")
            if enc is None:
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    from resemblyzer import VoiceEncoder
                enc = VoiceEncoder("cpu", verbose=False)
                _CACHE["resemblyzer"] = enc
        return enc

    def embed(self, y16: np.ndarray) -> np.ndarray:
        from resemblyzer import preprocess_wav

        enc = self._encoder()
        wav = preprocess_wav(np.asarray(y16, dtype=np.float32), ANALYSIS_RATE)
        if len(wav) < int(0.5 * ANALYSIS_RATE):  # VAD trimmed nearly everything: use the raw clip
            wav = np.asarray(y16, dtype=np.float32)
        return l2norm(enc.embed_utterance(wav))


class CampPlusEmbedder:
    """CAM++ (192-d) from `campplus.onnx` in a Step-Audio 2 token2wav folder, the embedding that
    conditions token2wav's flow decoder. Input: 80-bin Kaldi fbank of the 16 kHz clip,
    mean-normalised over time, shape (1, T, 80) (as CosyVoice 2's frontend feeds it)."""

    name = "campplus"

    def __init__(self, onnx_path: str | Path):
        self.onnx_path = Path(onnx_path)
        if not self.onnx_path.is_file():
            raise FileNotFoundError(f"{self.onnx_path}: no campplus.onnx here")
        self._session = None
        self.dim = 192

    def _sess(self):
        if self._session is None:
            import onnxruntime as ort

            key = f"campplus:{self.onnx_path.resolve()}"
            with _LOCK:
                sess = _CACHE.get(key)
                if sess is None:
                    opts = ort.SessionOptions()
                    opts.intra_op_num_threads = max(1, min(4, os.cpu_count() or 1))
                    sess = ort.InferenceSession(
                        str(self.onnx_path), opts, providers=["CPUExecutionProvider"]
                    )
                    _CACHE[key] = sess
            self._session = sess
            shape = sess.get_outputs()[0].shape
            if shape and isinstance(shape[-1], int):
                self.dim = int(shape[-1])
        return self._session

    def embed(self, y16: np.ndarray) -> np.ndarray:
        sess = self._sess()
        feat = kaldi_fbank(np.asarray(y16, dtype=np.float32), ANALYSIS_RATE, num_mel_bins=80)
        feat = feat - feat.mean(axis=0, keepdims=True)
        out = sess.run(None, {sess.get_inputs()[0].name: feat[None].astype(np.float32)})[0]
        return l2norm(np.asarray(out).reshape(-1))


def make_speaker_embedder(name: str, token2wav_dir: str | Path | None = None) -> SpeakerEmbedder:
    if name == "resemblyzer":
        return ResemblyzerEmbedder()
    if name == "campplus":
        if token2wav_dir is None:
            raise ValueError("campplus: no token2wav folder configured (campplus.onnx lives there)")
        return CampPlusEmbedder(Path(token2wav_dir) / "campplus.onnx")
    raise ValueError(f"{name}: unknown speaker embedder (resemblyzer | campplus)")
