"""Voice-prompt front end: prompt recording -> (prompt tokens, speaker embedding, prompt mel).

As in the CosyVoice 2 front end (`cosyvoice/cli/frontend.py`) and Step-Audio 2's
`token2wav.py`, with onnxruntime for both ONNX graphs:

- prompt speech tokens: `speech_tokenizer_v2_25hz.onnx`, inputs `feats` (1, 128, T)
  float32 Whisper log-mel of the 16 kHz prompt and `feats_length` (1,) int32; output
  `indices` (1, T/4) int64, 25 Hz codes in 0..6560.
- speaker embedding: `campplus.onnx`, input (1, T, 80) float32 Kaldi fbank of the 16 kHz
  prompt minus its mean over time; output (1, 192).
- prompt mel: 80-bin log-mel of the 24 kHz prompt, padded (last frame repeated) or
  cut to exactly 2 frames per prompt token (`up_rate` x tokens).

Results are cached per voice: the key is the voice id plus the SHA-256 of the file's
bytes, so switching voice costs one preparation and repeating one costs nothing (an
edited file under the same id is prepared again).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from model.token2wav.features import kaldi_fbank, prompt_mel, resample, whisper_log_mel
from model.voice_prompt import load_prompt


@dataclass(frozen=True)
class PromptFeatures:
    tokens: torch.Tensor  # (1, Tp) int64
    embedding: torch.Tensor  # (1, 192) float32
    mel: torch.Tensor  # (1, Tp * up_rate, 80) float32
    key: tuple[str, str]


def _session(path: Path, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as e:
        raise ValueError(f"{path}: cannot load ONNX model ({type(e).__name__}: {e})") from e


class PromptFrontend:
    def __init__(
        self, token2wav_dir: Path, up_rate: int = 2, cache_size: int = 16, threads: int = 1
    ):
        d = Path(token2wav_dir)
        for name in ("speech_tokenizer_v2_25hz.onnx", "campplus.onnx"):
            if not (d / name).is_file():
                raise FileNotFoundError(f"{d / name}: file not found")
        self.tokenizer = _session(d / "speech_tokenizer_v2_25hz.onnx", threads)
        self.campplus = _session(d / "campplus.onnx", threads)
        self.up_rate = up_rate
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], PromptFeatures] = OrderedDict()
        self._lock = threading.Lock()
        self.preparations = 0  # how many prompts were actually computed (cache misses)

    @staticmethod
    def cache_key(prompt_wav: Path, voice_id: str | None) -> tuple[str, str]:
        path = Path(prompt_wav)
        if not path.is_file():
            raise ValueError(f"{path}: file not found")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return (voice_id or "", digest)

    def prepare(self, prompt_wav: Path, voice_id: str | None = None) -> PromptFeatures:
        key = self.cache_key(prompt_wav, voice_id)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        feats = self._compute(Path(prompt_wav), key)
        with self._lock:
            self._cache[key] = feats
            self._cache.move_to_end(key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
            self.preparations += 1
        return feats

    def speech_tokens(self, audio16k: np.ndarray) -> np.ndarray:
        feats = whisper_log_mel(audio16k).unsqueeze(0).numpy()
        inputs = self.tokenizer.get_inputs()
        out = self.tokenizer.run(
            None,
            {
                inputs[0].name: feats,
                inputs[1].name: np.array([feats.shape[2]], dtype=np.int32),
            },
        )[0]
        return np.asarray(out).reshape(-1).astype(np.int64)

    def speaker_embedding(self, audio16k: np.ndarray) -> np.ndarray:
        fb = kaldi_fbank(audio16k, 80)
        fb = fb - fb.mean(dim=0, keepdim=True)
        name = self.campplus.get_inputs()[0].name
        out = self.campplus.run(None, {name: fb.unsqueeze(0).numpy()})[0]
        return np.asarray(out, dtype=np.float32).reshape(1, -1)

    def _compute(self, path: Path, key: tuple[str, str]) -> PromptFeatures:
        audio, sr = load_prompt(path)  # 0.2 to 30 s, finite, not silent
        a16 = resample(audio, sr, 16000)
        tokens = self.speech_tokens(a16)
        if tokens.size == 0:
            raise ValueError(f"{path}: the speech tokenizer returned no tokens")
        emb = self.speaker_embedding(a16)
        a24 = resample(audio, sr, 24000)
        mel = prompt_mel(a24)  # (frames, 80)
        n = tokens.size * self.up_rate
        if mel.shape[0] >= n:
            mel = mel[:n]
        else:
            mel = torch.cat([mel, mel[-1:].expand(n - mel.shape[0], -1)], dim=0)
        return PromptFeatures(
            tokens=torch.from_numpy(tokens).unsqueeze(0),
            embedding=torch.from_numpy(emb),
            mel=mel.unsqueeze(0).contiguous(),
            key=key,
        )
