"""The DiT velocity estimator of Step-Audio 2's flow-matching decoder.

Facts from the public Step-Audio 2 code (`cosyvoice2/flow/decoder_dit.py`, "DiT-v5"):

- input: noisy mel x, encoder output mu, speaker vector (repeated over time) and the
  prompt-mel condition, concatenated on channels (4 x 80 = 320) -> `in_proj` Linear.
- timestep: sinusoidal embedding of t * 1000 (256 dims, [cos, sin]) -> Linear, SiLU, Linear.
- `blocks`: adaLN-Zero DiT blocks; `adaLN_modulation` = SiLU + Linear(d, 9d) giving
  shift/scale/gate for attention, MLP and a causal convolution branch (order:
  msa, mlp, conv triplets), applied attention -> conv -> MLP; LayerNorms without affine
  (eps 1e-6); attention with q/k/v bias and per-head LayerNorm on q and k (`q_norm`,
  `k_norm`), no positional encoding; MLP with tanh-GELU; the conv branch is
  CausalConv1d(k3) -> LayerNorm -> Mish -> CausalConv1d(k3) (`conv.block.1/3/6`).
- `final_layer`: adaLN (shift, scale), LayerNorm, Linear(d, 80).

Whole-utterance inference attends over all frames; streaming (`forward_chunk`) attends
over the cached keys/values of earlier frames plus the chunk itself, and each causal
convolution keeps its last 2 input frames.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from model.token2wav.config import EstimatorConfig


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, head_dim: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = head_dim
        inner = num_heads * head_dim
        self.to_q = nn.Linear(dim, inner)
        self.to_k = nn.Linear(dim, inner)
        self.to_v = nn.Linear(dim, inner)
        self.q_norm = nn.LayerNorm(head_dim)
        self.k_norm = nn.LayerNorm(head_dim)
        self.proj = nn.Linear(inner, dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(
        self, x: torch.Tensor, cache: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (b, t, d); cache (b, h, t_cache, 2*head_dim). Returns output, new cache."""
        b, t, _ = x.shape
        q = self.q_norm(self._heads(self.to_q(x)))
        k = self.k_norm(self._heads(self.to_k(x)))
        v = self._heads(self.to_v(x))
        if cache is not None and cache.shape[2] > 0:
            k_cache, v_cache = cache.split(self.head_dim, dim=-1)
            k = torch.cat([k_cache, k], dim=2)
            v = torch.cat([v_cache, v], dim=2)
        new_cache = torch.cat([k, v], dim=-1)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, t, -1)), new_cache


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class _Transpose(nn.Module):
    """Parameter-free placeholder that keeps the checkpoint's `conv.block.N` indices."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2)


class CausalConvBranch(nn.Module):
    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        self.pad = kernel_size - 1
        self.block = nn.Sequential(
            _Transpose(),
            nn.Conv1d(channels, channels, kernel_size),
            _Transpose(),
            nn.LayerNorm(channels),
            nn.Mish(),
            _Transpose(),
            nn.Conv1d(channels, channels, kernel_size),
            _Transpose(),
        )

    def forward(
        self, x: torch.Tensor, cache: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (b, t, c); cache (b, 2c, pad) = last inputs of both convolutions."""
        c = x.shape[-1]
        if cache is None:
            cache1 = x.new_zeros(x.shape[0], c, self.pad)
            cache2 = x.new_zeros(x.shape[0], c, self.pad)
        else:
            cache1, cache2 = cache.split(c, dim=1)
        h = torch.cat([cache1, x.transpose(1, 2)], dim=2)
        new1 = h[..., -self.pad :]
        h = self.block[1](h).transpose(1, 2)
        h = self.block[4](self.block[3](h))
        h = torch.cat([cache2, h.transpose(1, 2)], dim=2)
        new2 = h[..., -self.pad :]
        h = self.block[6](h).transpose(1, 2)
        return h, torch.cat([new1, new2], dim=1)


class DiTBlock(nn.Module):
    def __init__(self, cfg: EstimatorConfig):
        super().__init__()
        d = cfg.hidden_size
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, cfg.num_heads, cfg.head_dim)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.mlp = Mlp(d, int(d * cfg.mlp_ratio))
        self.norm3 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.conv = CausalConvBranch(d, 3)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 9 * d))

    def forward(
        self,
        x: torch.Tensor,
        c: torch.Tensor,
        cnn_cache: torch.Tensor | None = None,
        att_cache: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        (
            shift_msa,
            scale_msa,
            gate_msa,
            shift_mlp,
            scale_mlp,
            gate_mlp,
            shift_conv,
            scale_conv,
            gate_conv,
        ) = self.adaLN_modulation(c).chunk(9, dim=-1)
        h, new_att = self.attn(modulate(self.norm1(x), shift_msa, scale_msa), att_cache)
        x = x + gate_msa * h
        h, new_cnn = self.conv(modulate(self.norm3(x), shift_conv, scale_conv), cnn_cache)
        x = x + gate_conv * h
        x = x + gate_mlp * self.mlp(modulate(self.norm2(x), shift_mlp, scale_mlp))
        return x, new_cnn, new_att


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half) / half).to(t)
        args = (t * 1000)[:, None] * freqs[None]
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        if self.freq_dim % 2:
            emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
        return self.mlp(emb)


class FinalLayer(nn.Module):
    def __init__(self, hidden: int, out_channels: int):
        super().__init__()
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))
        self.norm_final = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden, out_channels)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


class DiT(nn.Module):
    def __init__(self, cfg: EstimatorConfig):
        super().__init__()
        self.cfg = cfg
        self.in_channels = cfg.in_channels
        self.out_channels = cfg.out_channels
        self.t_embedder = TimestepEmbedder(cfg.hidden_size)
        self.in_proj = nn.Linear(cfg.in_channels, cfg.hidden_size)
        self.blocks = nn.ModuleList([DiTBlock(cfg) for _ in range(cfg.depth)])
        self.final_layer = FinalLayer(cfg.hidden_size, cfg.out_channels)

    def forward(
        self,
        x: torch.Tensor,
        mu: torch.Tensor,
        t: torch.Tensor,
        spks: torch.Tensor,
        cond: torch.Tensor,
        cnn_cache: torch.Tensor | None = None,
        att_cache: torch.Tensor | None = None,
        want_cache: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """x, mu, cond: (b, 80, t); t: (b,); spks: (b, 80);
        cnn_cache (depth, b, 2d, 2), att_cache (depth, b, h, t_cache, 2*head_dim) or None.
        Returns the velocity (b, 80, t) and the new caches (stacked over blocks)."""
        c = self.t_embedder(t).unsqueeze(1)
        spk = spks.unsqueeze(-1).expand(-1, -1, x.shape[-1])
        h = torch.cat([x, mu, spk, cond], dim=1).transpose(1, 2)
        h = self.in_proj(h)
        cnn_out, att_out = [], []
        for i, block in enumerate(self.blocks):
            h, nc, na = block(
                h,
                c,
                cnn_cache[i] if cnn_cache is not None else None,
                att_cache[i] if att_cache is not None else None,
            )
            if want_cache:
                cnn_out.append(nc)
                att_out.append(na)
        out = self.final_layer(h, c).transpose(1, 2)
        if not want_cache:
            return out, None, None
        return out, torch.stack(cnn_out), torch.stack(att_out)
