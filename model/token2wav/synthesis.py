"""`Token2Wav`: Step-Audio 2 speech tokens + a voice prompt -> 24 kHz speech, one-shot or streamed.

Streaming follows the public Step-Audio 2 loop (`token2wav.py` `stream`,
`examples-vllm-stream.py`): tokens are processed in chunks of `chunk_size` (25) plus
`pre_lookahead_len` (3) look-ahead tokens, which are fed again as the start of the next
chunk; the last chunk has no look-ahead. The flow model continues from its
encoder/estimator caches. The vocoder runs on the chunk's mel preceded by the last
8 mel frames of the previous chunk, reuses the previous excitation for those frames, and
cross-fades the 8 * 480 overlapping samples with a Hamming window; the overlap is held
back until the next chunk (or the end) arrives.

`open_stream` returns a push-based `Token2WavStream` (`push(tokens)` -> ready pieces,
`finish()` -> the rest); `stream` is a pull wrapper over it. The prompt is primed with
its own first tokens as look-ahead (as the public `token2wav.py`), so the primed flow
state depends on the voice only and is cached per voice (`Token2Wav.voice`): a stream in
a voice used before starts straight with its first chunk.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model.token2wav.config import Token2WavConfig, parse_flow_yaml
from model.token2wav.flow import FlowModel, FlowStreamCache
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
        # streaming attention history beyond the prompt, in frames (the reference keeps 100)
        self.history_frames = 100
        # primed flow state per voice (see `voice`)
        self.voice_cache: OrderedDict[tuple, VoiceState] = OrderedDict()
        self.voice_cache_size = 8
        self.voice_setups = 0
        self._voice_lock = threading.Lock()

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
    def mel(self, tokens: list[int], prompt: PromptFeatures, chunked: bool = False) -> torch.Tensor:
        """Mel (1, 80, 2 * len(tokens)); `chunked=True` gives exactly the mel `stream`
        computes (chunk-causal attention, the prompt primed with its own look-ahead
        tokens), else whole-utterance attention."""
        tokens = validate_tokens(tokens, self.config.flow.vocab_size)
        ptok, pmel, emb = self._prompt_tensors(prompt)
        tok = torch.tensor([tokens], dtype=torch.long, device=self.device)
        chunk = self.chunk_size if chunked else None
        la = None
        if chunked:
            la = torch.tensor([self.prompt_lookahead(prompt)], dtype=torch.long, device=self.device)
        return self.flow.inference(
            tok,
            ptok,
            pmel,
            emb,
            self.n_timesteps,
            chunk_size=chunk,
            keep_frames=self.history_frames,
            prompt_lookahead=la,
        ).float()

    @torch.inference_mode()
    def synthesize(
        self,
        tokens: list[int],
        prompt_wav: Path,
        voice_id: str | None = None,
        *,
        chunked: bool = False,
    ) -> np.ndarray:
        """Speech for `tokens` in the voice of `prompt_wav`: float32 mono, 24 kHz,
        len(tokens) / 25 seconds. `chunked=True` uses streaming's chunk-causal attention
        in one pass."""
        tokens = validate_tokens(tokens, self.config.flow.vocab_size)
        if not tokens:
            return np.zeros(0, dtype=np.float32)
        prompt = self.prepare_prompt(prompt_wav, voice_id)
        mel = self.mel(tokens, prompt, chunked=chunked)
        wav, _ = self.hift(mel, generator=self._generator())
        return wav[0].cpu().numpy().astype(np.float32)

    # -- streaming ---------------------------------------------------------------
    def prompt_lookahead(self, prompt: PromptFeatures) -> list[int]:
        """The look-ahead tokens a streamed prompt is primed with: the prompt's own first
        tokens, as the public Step-Audio 2 `token2wav.py` does (repeated if the prompt is
        shorter than the look-ahead). They do not depend on the reply, so the primed
        state can be cached per voice."""
        look = self.flow.pre_lookahead_len
        own = prompt.tokens[0].tolist()
        return (own * look)[:look]

    def voice(self, prompt_wav: Path, voice_id: str | None = None) -> VoiceState:
        """The voice's prompt features and primed flow state, computed once per (voice id,
        prompt path, its modification time and size) and kept in an LRU of
        `voice_cache_size` voices. `voice_setups` counts the primings actually run."""
        path = Path(prompt_wav)
        try:
            st = path.stat()
        except OSError as e:
            raise ValueError(f"{path}: file not found") from e
        key = (voice_id or "", str(path.resolve()), st.st_mtime_ns, st.st_size, self.n_timesteps)
        with self._voice_lock:
            hit = self.voice_cache.get(key)
            if hit is not None:
                self.voice_cache.move_to_end(key)
                return hit
        state = self._prime(self.prepare_prompt(path, voice_id), key)
        with self._voice_lock:
            self.voice_cache[key] = state
            self.voice_cache.move_to_end(key)
            while len(self.voice_cache) > self.voice_cache_size:
                self.voice_cache.popitem(last=False)
            self.voice_setups += 1
        return state

    @torch.inference_mode()
    def _prime(self, prompt: PromptFeatures, key: tuple) -> VoiceState:
        ptok, pmel, emb = self._prompt_tensors(prompt)
        la = torch.tensor([self.prompt_lookahead(prompt)], dtype=ptok.dtype, device=self.device)
        cache = self.flow.setup_cache(torch.cat([ptok, la], dim=1), pmel, emb, self.n_timesteps)
        return VoiceState(key=key, prompt=prompt, embedding=emb, flow=cache)

    def open_stream(self, prompt_wav: Path, voice_id: str | None = None) -> Token2WavStream:
        """A push-based stream in the voice of `prompt_wav`: `push(tokens)` returns the
        pieces that became ready, `finish()` the rest. A voice used before starts from its
        cached primed state (no prompt computation)."""
        return Token2WavStream(self, self.voice(prompt_wav, voice_id))

    def stream(
        self,
        token_chunks: Iterable[list[int]],
        prompt_wav: Path,
        voice_id: str | None = None,
    ) -> Iterator[np.ndarray]:
        """Yield 24 kHz float32 pieces as soon as `chunk_size` + look-ahead tokens have
        arrived; their concatenation covers len(all tokens) / 25 seconds. A pull-style
        wrapper over `open_stream`."""
        s = self.open_stream(prompt_wav, voice_id)
        for chunk in token_chunks:
            yield from s.push(chunk)
        yield from s.finish()

    def _flow_chunk(self, tokens: list[int], emb: torch.Tensor, cache, last: bool):
        tok = torch.tensor([tokens], dtype=torch.long, device=self.device)
        mel, cache = self.flow.inference_chunk(
            tok,
            emb,
            cache,
            last_chunk=last,
            n_timesteps=self.n_timesteps,
            keep_frames=self.history_frames,
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


@dataclass(frozen=True)
class VoiceState:
    """A voice ready to stream: prompt features and the flow state primed with them."""

    key: tuple
    prompt: PromptFeatures
    embedding: torch.Tensor
    flow: FlowStreamCache


class Token2WavStream:
    """One streamed utterance (`Token2Wav.open_stream`). Tokens are processed in chunks
    of `chunk_size` plus `pre_lookahead_len` look-ahead tokens (fed again as the start of
    the next chunk); the last chunk, at `finish`, has no look-ahead. Each piece's last
    8 mel frames (3840 samples) are held back to be cross-faded with the next piece, so
    after k chunks the pieces returned cover k * chunk_size tokens minus 0.16 s;
    `finish` returns the rest. Not thread-safe (one producer); streams are independent."""

    def __init__(self, t2w: Token2Wav, voice: VoiceState):
        self._t2w = t2w
        self.voice = voice
        self._cache = voice.flow
        self._gen = t2w._generator()
        self._hift: dict[str, torch.Tensor | None] = {"mel": None, "source": None, "speech": None}
        self._buffer: list[int] = []
        self._finished = False
        self.tokens_synthesized = 0  # tokens whose audio has been returned (see above)
        self.samples_returned = 0

    def _emit(self, tokens: list[int], last: bool) -> np.ndarray:
        t2w = self._t2w
        mel, self._cache = t2w._flow_chunk(tokens, self.voice.embedding, self._cache, last)
        piece = t2w._vocode(mel, self._hift, self._gen, last)
        self.samples_returned += piece.size
        return piece

    @torch.inference_mode()
    def push(self, tokens: Iterable[int]) -> list[np.ndarray]:
        """Add tokens; returns the 24 kHz float32 pieces that are now ready (0 or more).
        ValueError on a token outside the vocabulary (nothing is added then)."""
        if self._finished:
            raise RuntimeError("push after finish: the stream is closed")
        t2w = self._t2w
        self._buffer.extend(validate_tokens(tokens, t2w.config.flow.vocab_size))
        n, look = t2w.chunk_size, t2w.flow.pre_lookahead_len
        out = []
        while len(self._buffer) >= n + look:
            out.append(self._emit(self._buffer[: n + look], last=False))
            self._buffer = self._buffer[n:]
            self.tokens_synthesized += n
        return out

    @torch.inference_mode()
    def finish(self) -> list[np.ndarray]:
        """The remaining audio: the last chunk (no look-ahead) and the held-back overlap.
        The stream is closed afterwards (a second call returns [])."""
        if self._finished:
            return []
        self._finished = True
        out = []
        if self._buffer:
            out.append(self._emit(self._buffer, last=True))
            self.tokens_synthesized += len(self._buffer)
            self._buffer = []
        elif self._hift["speech"] is not None:
            piece = self._hift["speech"][0].cpu().numpy().astype(np.float32)
            self.samples_returned += piece.size
            out.append(piece)
        return out
