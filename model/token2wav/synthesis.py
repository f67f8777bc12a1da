"""`Token2Wav`: Step-Audio 2 speech tokens + a voice prompt -> 24 kHz speech, one-shot or streamed.

Streaming follows the public Step-Audio 2 loop (`token2wav.py` `stream`,
`examples-vllm-stream.py`): tokens are processed in chunks of `chunk_size` (25) plus
`pre_lookahead_len` (3) look-ahead tokens, which are fed again as the start of the next
chunk; the last chunk has no look-ahead. The flow model continues from its
encoder/estimator caches. The vocoder runs on the chunk's mel preceded by the last
8 mel frames of the previous chunk, reuses the previous excitation for those frames, and
cross-fades the 8 * 480 overlapping samples with a Hamming window; the overlap is held
back until the next chunk (or the end) arrives.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from model.token2wav.config import Token2WavConfig, parse_flow_yaml
from model.token2wav.flow import FlowModel
from model.token2wav.frontend import PromptFeatures, PromptFrontend
from model.token2wav.hift import HiFTGenerator
from model.token2wav.loading import load_strict

SAMPLE_RATE = 24000
TOKEN_RATE = 25
MAX_TOKEN = 6560
MEL_CACHE_FRAMES = 8
HIFT_SEED = 1234


def resolve_token2wav_dir(path: Path) -> Path:
    """A Step-Audio 2 checkpoint dir (with `token2wav/`) or the token2wav folder itself."""
    p = Path(path)
    if (p / "token2wav" / "flow.yaml").is_file():
        return p / "token2wav"
    if (p / "flow.yaml").is_file():
        return p
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such directory")
    raise FileNotFoundError(f"{p}: no flow.yaml here or in {p / 'token2wav'}")


def validate_tokens(tokens: Iterable[int], vocab: int = MAX_TOKEN + 1) -> list[int]:
    out = [int(t) for t in tokens]
    bad = [t for t in out if not 0 <= t < vocab]
    if bad:
        raise ValueError(f"speech token {bad[0]} is outside 0..{vocab - 1} ({len(bad)} bad tokens)")
    return out


class Token2Wav:
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        directory: Path,
        config: Token2WavConfig,
        flow: FlowModel,
        hift: HiFTGenerator,
        frontend: PromptFrontend,
        device: torch.device,
        dtype: torch.dtype,
        n_timesteps: int = 10,
        chunk_size: int = 25,
    ):
        self.directory = directory
        self.config = config
        self.flow = flow
        self.hift = hift
        self.frontend = frontend
        self.device = device
        self.dtype = dtype
        self.n_timesteps = n_timesteps
        self.chunk_size = chunk_size
        self.hop = config.hift.hop_samples
        self.source_cache_len = MEL_CACHE_FRAMES * self.hop
        self.window = torch.from_numpy(np.hamming(2 * self.source_cache_len)).float().to(device)

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
        n_timesteps: int = 10,
        chunk_size: int = 25,
        onnx_threads: int = 1,
    ) -> Token2Wav:
        d = resolve_token2wav_dir(Path(path))
        cfg = parse_flow_yaml(d / "flow.yaml")
        device = torch.device(device)
        flow = FlowModel(cfg.flow)
        load_strict(flow, d / "flow.pt")
        flow = flow.to(device=device, dtype=dtype).eval()
        hift = HiFTGenerator(cfg.hift)
        load_strict(hift, d / "hift.pt", hift=True)
        hift.fold_weight_norm()
        hift = hift.to(device).eval()
        frontend = PromptFrontend(d, up_rate=flow.up_rate, threads=onnx_threads)
        return cls(d, cfg, flow, hift, frontend, device, dtype, n_timesteps, chunk_size)

    # -- prompt ----------------------------------------------------------------
    def prepare_prompt(self, prompt_wav: Path, voice_id: str | None = None) -> PromptFeatures:
        return self.frontend.prepare(Path(prompt_wav), voice_id)

    def _prompt_tensors(self, p: PromptFeatures):
        return (
            p.tokens.to(self.device),
            p.mel.to(self.device, self.dtype),
            p.embedding.to(self.device, self.dtype),
        )

    def _generator(self) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(HIFT_SEED)

    # -- one-shot ----------------------------------------------------------------
    @torch.inference_mode()
    def mel(self, tokens: list[int], prompt: PromptFeatures) -> torch.Tensor:
        tokens = validate_tokens(tokens, self.config.flow.vocab_size)
        ptok, pmel, emb = self._prompt_tensors(prompt)
        tok = torch.tensor([tokens], dtype=torch.long, device=self.device)
        return self.flow.inference(tok, ptok, pmel, emb, self.n_timesteps).float()

    @torch.inference_mode()
    def synthesize(
        self, tokens: list[int], prompt_wav: Path, voice_id: str | None = None
    ) -> np.ndarray:
        """Speech for `tokens` in the voice of `prompt_wav`: float32 mono, 24 kHz,
        len(tokens) / 25 seconds."""
        tokens = validate_tokens(tokens, self.config.flow.vocab_size)
        if not tokens:
            return np.zeros(0, dtype=np.float32)
        prompt = self.prepare_prompt(prompt_wav, voice_id)
        mel = self.mel(tokens, prompt)
        wav, _ = self.hift(mel, generator=self._generator())
        return wav[0].cpu().numpy().astype(np.float32)

    # -- streaming ---------------------------------------------------------------
    @torch.inference_mode()
    def stream(
        self,
        token_chunks: Iterable[list[int]],
        prompt_wav: Path,
        voice_id: str | None = None,
    ) -> Iterator[np.ndarray]:
        """Yield 24 kHz float32 pieces as soon as `chunk_size` + look-ahead tokens have
        arrived; their concatenation covers len(all tokens) / 25 seconds."""
        prompt = self.prepare_prompt(prompt_wav, voice_id)
        ptok, pmel, emb = self._prompt_tensors(prompt)
        look = self.flow.pre_lookahead_len
        n = self.chunk_size
        lookahead_tokens = ptok[:, :look]
        if lookahead_tokens.shape[1] < look:  # very short prompt: repeat it
            reps = -(-look // ptok.shape[1])
            lookahead_tokens = ptok.repeat(1, reps)[:, :look]
        cache = self.flow.setup_cache(
            torch.cat([ptok, lookahead_tokens], dim=1), pmel, emb, self.n_timesteps
        )
        gen = self._generator()
        hift_state: dict[str, torch.Tensor | None] = {"mel": None, "source": None, "speech": None}
        buffer: list[int] = []
        for chunk in token_chunks:
            buffer.extend(validate_tokens(chunk, self.config.flow.vocab_size))
            while len(buffer) >= n + look:
                mel, cache = self._flow_chunk(buffer[: n + look], emb, cache, last=False)
                buffer = buffer[n:]
                yield self._vocode(mel, hift_state, gen, last=False)
        if buffer:
            mel, cache = self._flow_chunk(buffer, emb, cache, last=True)
            yield self._vocode(mel, hift_state, gen, last=True)
        elif hift_state["speech"] is not None:
            yield hift_state["speech"][0].cpu().numpy().astype(np.float32)

    def _flow_chunk(self, tokens: list[int], emb: torch.Tensor, cache, last: bool):
        tok = torch.tensor([tokens], dtype=torch.long, device=self.device)
        mel, cache = self.flow.inference_chunk(
            tok, emb, cache, last_chunk=last, n_timesteps=self.n_timesteps
        )
        return mel.float(), cache

    def _vocode(
        self, chunk_mel: torch.Tensor, state: dict, gen: torch.Generator, last: bool
    ) -> np.ndarray:
        mel = chunk_mel if state["mel"] is None else torch.cat([state["mel"], chunk_mel], dim=2)
        speech, source = self.hift(mel, state["source"], generator=gen)
        prev = state["speech"]
        if prev is not None:
            k = min(prev.shape[-1], speech.shape[-1])
            w = self.window
            speech = speech.clone()
            speech[:, :k] = (
                speech[:, :k] * w[:k]
                + prev[:, -k:] * w[self.source_cache_len : self.source_cache_len + k]
            )
        state["mel"] = mel[..., -MEL_CACHE_FRAMES:].clone()
        state["source"] = source[:, :, -self.source_cache_len :].clone()
        state["speech"] = speech[:, -self.source_cache_len :].clone()
        if not last:
            speech = speech[:, : -self.source_cache_len]
        return speech[0].cpu().numpy().astype(np.float32)
