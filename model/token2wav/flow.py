"""The flow-matching model: speech tokens (+ voice prompt) -> 80-bin 24 kHz mel frames.

Facts from the public Step-Audio 2 code (`cosyvoice2/flow/flow.py`,
`cosyvoice2/flow/flow_matching.py`), the same design as CosyVoice 2's
`CausalMaskedDiffWithXvec` / `CausalConditionalCFM`:

- module names (= `flow.pt` keys): `input_embedding` (Embedding 6561 x 512),
  `spk_embed_affine_layer` (Linear 192 -> 80), `encoder`, `encoder_proj` (Linear 512 -> 80),
  `decoder.estimator` (the DiT). The noise table and cache buffers are not persistent.
- the CAM++ embedding is L2-normalised, then projected to 80 dims.
- one-shot: prompt tokens and new tokens are encoded together; the condition is the
  prompt mel on the prompt frames and zeros elsewhere; the output keeps the new frames.
- sampling: fixed Gaussian noise table (1, 80, 50*600), cosine time schedule
  t = 1 - cos(pi/2 * linspace(0, 1, n+1)), Euler steps, classifier-free guidance with
  rate 0.7: v = 1.7 * v(mu, spk, cond) - 0.7 * v(0, 0, 0).
- streaming: `setup_cache` runs the prompt (with `pre_lookahead_len` look-ahead tokens)
  through the encoder and every Euler step of the estimator to fill their caches;
  `inference_chunk` continues from them. The caches are never modified in place, so a
  voice prompt's cache can be computed once and shared by every stream in that voice;
  the estimator keeps the prompt's keys/values and the generated history as separate
  segments (the history bounded to the newest `keep_frames`), so a chunk copies only
  what attention needs. The noise of a chunk is read at its absolute
  frame position, as in one-shot synthesis (the reference reads it at the cache length).
- `inference(..., chunk_size=n)` applies the same chunking as block-causal attention
  masks in one pass, reproducing streaming's numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from model.token2wav.config import FlowConfig
from model.token2wav.dit import DiT
from model.token2wav.encoder import UpsampleConformerEncoder

NOISE_FRAMES = 50 * 600  # ten minutes of 50 Hz frames, as in the reference
NOISE_SEED = 0


class FlowDecoder(nn.Module):
    """Conditional flow matching with an Euler solver and classifier-free guidance."""

    def __init__(self, cfg: FlowConfig):
        super().__init__()
        self.estimator = DiT(cfg.estimator)
        self.inference_cfg_rate = cfg.inference_cfg_rate
        self.out_channels = cfg.estimator.out_channels
        self._schedules: dict = {}
        g = torch.Generator().manual_seed(NOISE_SEED)
        noise = torch.randn([1, self.out_channels, NOISE_FRAMES], generator=g)
        self.register_buffer("rand_noise", noise, persistent=False)

    def noise(self, offset: int, length: int, like: torch.Tensor) -> torch.Tensor:
        idx = torch.arange(offset, offset + length, device=self.rand_noise.device) % NOISE_FRAMES
        return self.rand_noise[:, :, idx].to(like.dtype)

    @staticmethod
    def time_span(n_timesteps: int, like: torch.Tensor) -> torch.Tensor:
        t = torch.linspace(0, 1, n_timesteps + 1, device=like.device, dtype=like.dtype)
        return 1 - torch.cos(t * 0.5 * math.pi)

    def schedule(
        self, n_timesteps: int, like: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]]:
        """Per Euler step: (t (2,), dt, the estimator's adaLN modulations at t). Computed
        once per (n_timesteps, dtype, device) and reused by every chunk and utterance (the
        modulations depend on the timestep only)."""
        key = (n_timesteps, like.dtype, like.device)
        hit = self._schedules.get(key)
        if hit is not None:
            return hit
        t_span = self.time_span(n_timesteps, like)
        t = t_span[0].unsqueeze(0)
        dt = t_span[1] - t_span[0]
        steps = []
        for step in range(1, len(t_span)):
            tt = torch.cat([t, t], dim=0)
            steps.append((tt, dt, self.estimator.modulations(tt)))
            t = t + dt
            if step < len(t_span) - 1:
                dt = t_span[step + 1] - t
        self._schedules[key] = steps
        return steps

    def solve(
        self,
        x: torch.Tensor,
        mu: torch.Tensor,
        spks: torch.Tensor,
        cond: torch.Tensor,
        n_timesteps: int,
        caches: list[list[torch.Tensor]] | None = None,
        cnn_caches: list[torch.Tensor] | None = None,
        want_cache: bool = False,
        attn_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Euler integration from noise x (b, 80, t) to mel. Streaming: `caches[i]` are
        step i's key/value segments of earlier frames, `cnn_caches[i]` its conv caches.
        Returns the mel, and per step the new conv caches and this chunk's keys/values."""
        r = self.inference_cfg_rate
        mu_in = torch.cat([mu, torch.zeros_like(mu)], dim=0)
        spks_in = torch.cat([spks, torch.zeros_like(spks)], dim=0)
        cond_in = torch.cat([cond, torch.zeros_like(cond)], dim=0)
        new_cnn, new_att = [], []
        for i, (t, dt, mods) in enumerate(self.schedule(n_timesteps, mu)):
            v, ncnn, natt = self.estimator(
                torch.cat([x, x], dim=0),
                mu_in,
                t,
                spks_in,
                cond_in,
                cnn_caches[i] if cnn_caches is not None else None,
                caches[i] if caches is not None else None,
                want_cache=want_cache,
                attn_mask=attn_mask,
                mods=mods,
            )
            v_cond, v_uncond = v.chunk(2, dim=0)
            x = x + dt * ((1.0 + r) * v_cond - r * v_uncond)
            if want_cache:
                new_cnn.append(ncnn)
                new_att.append(natt)
        return x, new_cnn, new_att


@dataclass
class FlowStreamCache:
    """Streaming state. Never modified in place: a cache of the voice prompt can be
    shared by any number of streams."""

    conformer_cnn: torch.Tensor
    conformer_att: torch.Tensor
    estimator_cnn: list[torch.Tensor]  # per Euler step (depth, b, 2, 2d)
    prompt_att: list[torch.Tensor]  # per Euler step: the prompt's keys/values
    history_att: list[torch.Tensor]  # per Euler step: the (bounded) generated history
    prompt_frames: int
    position: int  # absolute frame index of the next chunk (prompt frames included)

    @property
    def frames(self) -> int:
        """Frames the DiT attends to besides the chunk (prompt + history)."""
        return self.prompt_att[0].shape[3] + self.history_att[0].shape[3]


class FlowModel(nn.Module):
    def __init__(self, cfg: FlowConfig):
        super().__init__()
        self.cfg = cfg
        self.input_embedding = nn.Embedding(cfg.vocab_size, cfg.input_size)
        self.spk_embed_affine_layer = nn.Linear(cfg.spk_embed_dim, cfg.output_size)
        self.encoder = UpsampleConformerEncoder(cfg.encoder)
        self.encoder_proj = nn.Linear(cfg.encoder.output_size, cfg.output_size)
        self.decoder = FlowDecoder(cfg)

    @property
    def pre_lookahead_len(self) -> int:
        return self.cfg.encoder.pre_lookahead_len

    @property
    def up_rate(self) -> int:
        return self.cfg.encoder.up_stride

    def _speaker(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.spk_embed_affine_layer(F.normalize(embedding, dim=1))

    def chunk_ids(self, n_prompt: int, n_tokens: int, chunk_size: int) -> torch.Tensor:
        """Chunk index per token as streaming forms the chunks: the prompt is chunk 0;
        full chunks of `chunk_size` while `chunk_size + look-ahead` tokens remain; the
        remainder is the last chunk."""
        look = self.pre_lookahead_len
        n_full = (
            (n_tokens - chunk_size - look) // chunk_size + 1 if n_tokens >= chunk_size + look else 0
        )
        gen = torch.clamp(torch.arange(n_tokens) // chunk_size, max=n_full) + 1
        return torch.cat([torch.zeros(n_prompt, dtype=torch.long), gen])

    def frame_mask(
        self, chunk_ids: torch.Tensor, n_prompt_frames: int, keep_frames: int | None
    ) -> torch.Tensor:
        """(frames, frames) DiT attention mask equal to streaming with a history bounded
        to the prompt plus the newest `keep_frames` frames."""
        ids = chunk_ids.repeat_interleave(self.up_rate)
        n = ids.numel()
        allowed = ids[None, :] <= ids[:, None]
        if keep_frames is not None:
            j = torch.arange(n)
            start = torch.zeros(int(ids.max()) + 1, dtype=torch.long)
            for c in range(1, start.numel()):
                start[c] = int((ids < c).sum())
            lo = torch.clamp(start[ids] - keep_frames, min=n_prompt_frames)
            lo = torch.where(ids == 0, torch.zeros_like(lo), lo)
            allowed &= (j[None, :] < n_prompt_frames) | (j[None, :] >= lo[:, None])
        return allowed

    @torch.inference_mode()
    def inference(
        self,
        tokens: torch.Tensor,
        prompt_tokens: torch.Tensor,
        prompt_mel: torch.Tensor,
        embedding: torch.Tensor,
        n_timesteps: int = 10,
        chunk_size: int | None = None,
        keep_frames: int | None = 100,
        prompt_lookahead: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """tokens (1, T), prompt_tokens (1, Tp), prompt_mel (1, Tp*up_rate, 80),
        embedding (1, 192) -> mel (1, 80, T*up_rate) for the new tokens only.

        `chunk_size=None`: every frame attends to the whole utterance (the reference's
        one-shot inference). `chunk_size=n`: chunk-causal attention, the same numbers
        as `stream` with chunks of n tokens (and its bounded history).
        `prompt_lookahead` (1, pre_lookahead_len): the look-ahead tokens the prompt's
        last positions see instead of the first new tokens (what `setup_cache` was given)."""
        spk = self._speaker(embedding.to(self.spk_embed_affine_layer.weight.dtype))
        all_tokens = torch.cat([prompt_tokens, tokens], dim=1).clamp(min=0)
        ids = frame_mask = None
        if chunk_size is not None:
            ids = self.chunk_ids(prompt_tokens.shape[1], tokens.shape[1], chunk_size).to(
                tokens.device
            )
            frame_mask = self.frame_mask(ids.cpu(), prompt_mel.shape[1], keep_frames).to(
                tokens.device
            )
        la = None
        if prompt_lookahead is not None:
            la = (prompt_tokens.shape[1], self.input_embedding(prompt_lookahead.clamp(min=0)))
        h = self.encoder_proj(self.encoder(self.input_embedding(all_tokens), ids, la))
        n_prompt = prompt_mel.shape[1]
        cond = torch.zeros_like(h)
        cond[:, :n_prompt] = prompt_mel.to(h.dtype)
        mu = h.transpose(1, 2).contiguous()
        x = self.decoder.noise(0, mu.shape[2], mu)
        mel, _, _ = self.decoder.solve(
            x, mu, spk, cond.transpose(1, 2).contiguous(), n_timesteps, attn_mask=frame_mask
        )
        return mel[:, :, n_prompt:]

    @torch.inference_mode()
    def setup_cache(
        self,
        prompt_tokens_with_lookahead: torch.Tensor,
        prompt_mel: torch.Tensor,
        embedding: torch.Tensor,
        n_timesteps: int = 10,
    ) -> FlowStreamCache:
        """Run the prompt through the encoder and every Euler step, keeping the caches."""
        n = prompt_tokens_with_lookahead.shape[1] - self.pre_lookahead_len
        if n * self.up_rate != prompt_mel.shape[1]:
            raise ValueError(
                f"prompt mel has {prompt_mel.shape[1]} frames, expected {n * self.up_rate}"
            )
        spk = self._speaker(embedding.to(self.spk_embed_affine_layer.weight.dtype))
        h, ccnn, catt = self.encoder.forward_chunk(
            self.input_embedding(prompt_tokens_with_lookahead), last_chunk=False
        )
        mu = self.encoder_proj(h).transpose(1, 2).contiguous()
        x = self.decoder.noise(0, mu.shape[2], mu)
        cond = prompt_mel.to(mu.dtype).transpose(1, 2).contiguous()
        _, cnn, att = self.decoder.solve(x, mu, spk, cond, n_timesteps, want_cache=True)
        n = prompt_mel.shape[1]
        empty = [a[:, :, :, :0] for a in att]
        return FlowStreamCache(ccnn, catt, cnn, att, empty, prompt_frames=n, position=n)

    @torch.inference_mode()
    def inference_chunk(
        self,
        tokens: torch.Tensor,
        embedding: torch.Tensor,
        cache: FlowStreamCache,
        last_chunk: bool = False,
        n_timesteps: int = 10,
        keep_frames: int | None = 100,
    ) -> tuple[torch.Tensor, FlowStreamCache]:
        """tokens (1, t + lookahead) (no look-ahead on the last chunk) -> mel (1, 80, t*up)."""
        spk = self._speaker(embedding.to(self.spk_embed_affine_layer.weight.dtype))
        h, ccnn, catt = self.encoder.forward_chunk(
            self.input_embedding(tokens),
            last_chunk=last_chunk,
            cnn_cache=cache.conformer_cnn,
            att_cache=cache.conformer_att,
        )
        mu = self.encoder_proj(h).transpose(1, 2).contiguous()
        # noise at the absolute frame position (the reference reads it at the cached
        # length, which stops advancing once the history is bounded)
        x = self.decoder.noise(cache.position, mu.shape[2], mu)
        cond = torch.zeros_like(mu)
        segments = [[p, h] for p, h in zip(cache.prompt_att, cache.history_att, strict=True)]
        mel, cnn, new = self.decoder.solve(
            x, mu, spk, cond, n_timesteps, segments, cache.estimator_cnn, want_cache=True
        )
        # the history: the prompt's keys/values stay (shared, never copied); of the
        # generated frames the newest `keep_frames` are kept (as the reference's streaming
        # loop intends: bounded attention history, the voice prompt always visible)
        hist = [
            _keep_newest(torch.cat([h, a], dim=3), keep_frames)
            for h, a in zip(cache.history_att, new, strict=True)
        ]
        return mel, FlowStreamCache(
            ccnn,
            catt,
            cnn,
            cache.prompt_att,
            hist,
            cache.prompt_frames,
            cache.position + mel.shape[2],
        )


def _keep_newest(att: torch.Tensor, keep: int | None) -> torch.Tensor:
    if keep is None or att.shape[3] <= keep:
        return att
    return att[:, :, :, -keep:].contiguous()
