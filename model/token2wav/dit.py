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

Whole-utterance inference attends over all frames; streaming attends over the cached
keys/values of earlier frames (passed as segments, e.g. the voice prompt's and the recent
history's, so they are not re-packed every chunk) plus the chunk itself, and each causal
convolution keeps its last 2 input frames. The adaLN modulations depend on the timestep
only; `modulations(t)` computes them so a solver can reuse them across chunks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from model.token2wav.config import EstimatorConfig


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
        self._fused: tuple | None = None

    def _qkv(self) -> tuple[torch.Tensor, torch.Tensor]:
        """`to_q`, `to_k`, `to_v` as one (3 * inner, dim) projection (one matrix product
        instead of three). Rebuilt when a weight changes (moved, reloaded, edited)."""
        ps = (self.to_q.weight, self.to_k.weight, self.to_v.weight)
        bs = (self.to_q.bias, self.to_k.bias, self.to_v.bias)
        key = tuple((t.data_ptr(), t._version, t.dtype) for t in ps + bs)
        if self._fused is None or self._fused[0] != key:
            with torch.inference_mode(False), torch.no_grad():
                self._fused = (key, torch.cat(ps, dim=0), torch.cat(bs, dim=0))
        return self._fused[1], self._fused[2]

    def forward(
        self,
        x: torch.Tensor,
        cache: list[torch.Tensor] | None = None,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (b, t, d); cache: segments (b, h, t_i, 2*head_dim) of earlier keys/values, in
        time order; mask (t, sum t_i + t) bool, True = may attend. Returns the output and
        this chunk's own keys/values (b, h, t, 2*head_dim)."""
        b, t, _ = x.shape
        h, d = self.num_heads, self.head_dim
        w, bias = self._qkv()
        qkv = F.linear(x, w, bias).view(b, t, 3, h, d)
        qn, kn = self.q_norm, self.k_norm
        q = F.layer_norm(qkv[:, :, 0], (d,), qn.weight, qn.bias, qn.eps).transpose(1, 2)
        k = F.layer_norm(qkv[:, :, 1], (d,), kn.weight, kn.bias, kn.eps)
        new = torch.cat([k, qkv[:, :, 2]], dim=-1).transpose(1, 2)  # (b, h, t, 2d)
        segs = [c for c in cache if c.shape[2] > 0] if cache else []
        kv = torch.cat([*segs, new], dim=2) if segs else new
        out = F.scaled_dot_product_attention(q, kv[..., :d], kv[..., d:], attn_mask=mask)
        return F.linear(
            out.transpose(1, 2).reshape(b, t, -1), self.proj.weight, self.proj.bias
        ), new


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(F.linear(x, self.fc1.weight, self.fc1.bias), approximate="tanh")
        return F.linear(h, self.fc2.weight, self.fc2.bias)


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
        """x (b, t, c); cache (b, pad, 2c) = last inputs of both convolutions. The
        convolutions run as one matrix product over the unfolded frames (faster than
        conv1d for the short chunks of streaming, same numbers up to rounding)."""
        b, t, c = x.shape
        if cache is None:
            cache1 = cache2 = x.new_zeros(b, self.pad, c)
        else:
            cache1, cache2 = cache[..., :c], cache[..., c:]
        h = torch.cat([cache1, x], dim=1)
        new1 = h[:, -self.pad :]
        h = self._conv(self.block[1], h, t)
        norm = self.block[3]
        h = F.mish(F.layer_norm(h, (c,), norm.weight, norm.bias, norm.eps))
        h = torch.cat([cache2, h], dim=1)
        new2 = h[:, -self.pad :]
        h = self._conv(self.block[6], h, t)
        return h, torch.cat([new1, new2], dim=2)

    def _conv(self, conv: nn.Conv1d, h: torch.Tensor, t: int) -> torch.Tensor:
        """Valid conv1d over time of h (b, t + pad, c) -> (b, t, out)."""
        cols = h.unfold(1, self.pad + 1, 1).reshape(h.shape[0], t, -1)  # (b, t, c * k)
        return F.linear(cols, conv.weight.view(conv.out_channels, -1), conv.bias)


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
        mod: torch.Tensor,
        cnn_cache: torch.Tensor | None = None,
        att_cache: list[torch.Tensor] | None = None,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`mod`: this block's entry of `DiT.modulations` (shift, 1 + scale, gate for
        attention, MLP and conv)."""
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = mod[:6]
        shift_conv, scale_conv, gate_conv = mod[6:]
        d = (x.shape[-1],)
        h = F.layer_norm(x, d, eps=1e-6)
        h, new_att = self.attn(torch.addcmul(shift_msa, h, scale_msa), att_cache, mask)
        x = torch.addcmul(x, gate_msa, h)
        h = F.layer_norm(x, d, eps=1e-6)
        h, new_cnn = self.conv(torch.addcmul(shift_conv, h, scale_conv), cnn_cache)
        x = torch.addcmul(x, gate_conv, h)
        h = self.mlp(torch.addcmul(shift_mlp, F.layer_norm(x, d, eps=1e-6), scale_mlp))
        x = torch.addcmul(x, gate_mlp, h)
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

    def forward(self, x: torch.Tensor, mod: tuple[torch.Tensor, ...]) -> torch.Tensor:
        shift, scale = mod  # scale: 1 + scale (see `DiT.modulations`)
        return self.linear(torch.addcmul(shift, self.norm_final(x), scale))


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

    def modulations(self, t: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """The adaLN modulations for timesteps t (b,): per block the 9 (b, 1, d) tensors
        (shift, 1 + scale, gate) x (attention, MLP, conv), then the final layer's (shift,
        1 + scale). They depend on t only, so a solver computes them once per schedule
        and reuses them for every chunk."""

        def split(m: torch.Tensor, n: int) -> tuple[torch.Tensor, ...]:
            parts = [p.contiguous() for p in m.chunk(n, dim=-1)]
            for i in range(1, n, 3):
                parts[i] = parts[i] + 1  # modulate: x * (1 + scale) + shift
            return tuple(parts)

        c = self.t_embedder(t).unsqueeze(1)
        mods = [split(block.adaLN_modulation(c), 9) for block in self.blocks]
        return [*mods, split(self.final_layer.adaLN_modulation(c), 2)]

    def forward(
        self,
        x: torch.Tensor,
        mu: torch.Tensor,
        t: torch.Tensor,
        spks: torch.Tensor,
        cond: torch.Tensor,
        cnn_cache: torch.Tensor | None = None,
        att_cache: list[torch.Tensor] | None = None,
        want_cache: bool = True,
        attn_mask: torch.Tensor | None = None,
        mods: list[tuple[torch.Tensor, ...]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """x, mu, cond: (b, 80, t); t: (b,); spks: (b, 80);
        cnn_cache (depth, b, 2, 2d); att_cache: segments (depth, b, h, t_i, 2*head_dim)
        of earlier frames' keys/values in time order, or None; `mods`: precomputed
        `modulations(t)`. Returns the velocity (b, 80, t), the new conv caches and this
        chunk's keys/values (depth, b, h, t, 2*head_dim) (stacked over blocks)."""
        if mods is None:
            mods = self.modulations(t)
        spk = spks.unsqueeze(-1).expand(-1, -1, x.shape[-1])
        h = torch.cat([x, mu, spk, cond], dim=1).transpose(1, 2)
        h = self.in_proj(h)
        cnn_out, att_out = [], []
        for i, block in enumerate(self.blocks):
            h, nc, na = block(
                h,
                mods[i],
                cnn_cache[i] if cnn_cache is not None else None,
                [seg[i] for seg in att_cache] if att_cache is not None else None,
                attn_mask,
            )
            if want_cache:
                cnn_out.append(nc)
                att_out.append(na)
        out = self.final_layer(h, mods[-1]).transpose(1, 2)
        if not want_cache:
            return out, None, None
        return out, torch.stack(cnn_out), torch.stack(att_out)
