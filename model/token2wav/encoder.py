"""The upsampling conformer encoder of the flow model (speech tokens -> 50 Hz features).

Architecture facts (read from the public Step-Audio 2 code, `cosyvoice2/transformer/
upsample_encoder_v2.py`, `attention.py`, `embedding.py`, `encoder_layer.py`; the same
design as CosyVoice 2's `UpsampleConformerEncoder`):

- `embed`: Linear(input, d) + LayerNorm(eps 1e-5), output scaled by sqrt(d); ESPnet
  relative positional encoding (sin/cos table of relative offsets L-1 .. -(L-1)).
- `pre_lookahead_layer`: conv1 (kernel lookahead+1, right zero padding = look-ahead),
  leaky ReLU, conv2 (kernel 3, causal left padding 2), residual.
- `encoders`: pre-LN conformer blocks without macaron/conv modules: relative-position
  self-attention (Transformer-XL biases `pos_bias_u`/`pos_bias_v`, `linear_pos` without
  bias), then a SiLU feed-forward; LayerNorms with eps 1e-12.
- `up_layer`: nearest x2 interpolation, causal left padding 2*stride, conv kernel
  2*stride+1.
- `up_embed` + `up_encoders` at the frame rate, `after_norm` (eps 1e-5).

Streaming (`forward_chunk`): each chunk carries `pre_lookahead_len` future tokens which
are consumed by the look-ahead convolution and dropped; the attention caches keep keys
and values of all earlier positions, the convolution caches the last 2 (look-ahead
layer) and 2*stride (upsampling) frames. The packed cache layout matches the reference:
`att_cache` (blocks + up_blocks, b, heads, 2*t_tokens, 2*d_k) with the token-rate caches
repeated twice along time, `cnn_cache` (b, d, 2 + 2*stride).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from model.token2wav.config import EncoderConfig


def rel_position_table(d_model: int, size: int, device=None, dtype=None) -> torch.Tensor:
    """ESPnet relative positional table for key length `size`: (1, 2*size-1, d_model).

    Row k encodes the relative offset (size-1-k): first the positive offsets
    size-1 .. 0 (the query is right of the key), then the negative ones -1 .. -(size-1).
    """
    pos = torch.arange(size - 1, -size, -1, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(
        torch.arange(0, d_model, 2, dtype=torch.float32) * -(math.log(10000.0) / d_model)
    )
    table = torch.zeros(2 * size - 1, d_model)
    table[:, 0::2] = torch.sin(pos * div)
    table[:, 1::2] = torch.cos(pos * div)
    return table.unsqueeze(0).to(device=device, dtype=dtype)


class LinearEmbed(nn.Module):
    """Linear + LayerNorm, then x * sqrt(d) (the positional table is built separately)."""

    def __init__(self, idim: int, odim: int):
        super().__init__()
        self.out = nn.Sequential(nn.Linear(idim, odim), nn.LayerNorm(odim, eps=1e-5))
        self.xscale = math.sqrt(odim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(x) * self.xscale


class RelPositionAttention(nn.Module):
    """Multi-head self-attention with Transformer-XL style relative positions."""

    def __init__(self, n_head: int, n_feat: int, key_bias: bool = True):
        super().__init__()
        self.h = n_head
        self.d_k = n_feat // n_head
        self.linear_q = nn.Linear(n_feat, n_feat)
        self.linear_k = nn.Linear(n_feat, n_feat, bias=key_bias)
        self.linear_v = nn.Linear(n_feat, n_feat)
        self.linear_out = nn.Linear(n_feat, n_feat)
        self.linear_pos = nn.Linear(n_feat, n_feat, bias=False)
        self.pos_bias_u = nn.Parameter(torch.zeros(n_head, self.d_k))
        self.pos_bias_v = nn.Parameter(torch.zeros(n_head, self.d_k))

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.h, self.d_k)

    def forward(
        self,
        x: torch.Tensor,
        pos_table: torch.Tensor,
        cache: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (b, t1, d); pos_table: (1, 2*t2-1, d) with t2 = cache_t + t1;
        cache: (b, h, cache_t, 2*d_k) or None; mask: (t1, t2) bool, True = may attend.
        Returns output and the new cache."""
        b, t1, _ = x.shape
        q = self._heads(self.linear_q(x))  # (b, t1, h, dk)
        k = self._heads(self.linear_k(x)).transpose(1, 2)  # (b, h, t1, dk)
        v = self._heads(self.linear_v(x)).transpose(1, 2)
        if cache is not None and cache.shape[2] > 0:
            k_cache, v_cache = cache.split(self.d_k, dim=-1)
            k = torch.cat([k_cache, k], dim=2)
            v = torch.cat([v_cache, v], dim=2)
        new_cache = torch.cat([k, v], dim=-1)
        t2 = k.shape[2]
        # keys are never more than t1 - 1 frames right of a query: the table rows of
        # larger negative offsets are never read (most of it when streaming: t2 >> t1)
        pos_table = pos_table[:, : t1 + t2 - 1]
        p = self._heads(self.linear_pos(pos_table)).transpose(1, 2)  # (1, h, t1+t2-1, dk)
        q_u = (q + self.pos_bias_u).transpose(1, 2)
        q_v = (q + self.pos_bias_v).transpose(1, 2)
        content = torch.matmul(q_u, k.transpose(-2, -1))  # (b, h, t1, t2)
        position = torch.matmul(q_v, p.transpose(-2, -1))  # (b, h, t1, t1+t2-1)
        if position.shape[-1] != t2:
            # query i sits at absolute position (t2 - t1 + i); key j at j; the table row
            # of relative offset r is (t2 - 1 - r), i.e. column t1 - 1 - i + j.
            i = torch.arange(t1, device=x.device).unsqueeze(1)
            j = torch.arange(t2, device=x.device).unsqueeze(0)
            idx = (t1 - 1 - i + j).expand(b, self.h, t1, t2)
            position = torch.gather(position.expand(b, -1, -1, -1), 3, idx)
        scores = (content + position) / math.sqrt(self.d_k)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        attn = torch.softmax(scores, dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, t1, self.h * self.d_k)
        return self.linear_out(out), new_cache


class FeedForward(nn.Module):
    def __init__(self, idim: int, hidden: int, activation: str):
        super().__init__()
        self.w_1 = nn.Linear(idim, hidden)
        self.w_2 = nn.Linear(hidden, idim)
        acts = {"swish": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}
        if activation not in acts:
            raise ValueError(f"flow.yaml: unsupported encoder activation_type {activation!r}")
        self.activation = acts[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(self.activation(self.w_1(x)))


class ConformerBlock(nn.Module):
    """Pre-LN block: relative-position attention, then feed-forward (no conv module)."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        d = cfg.output_size
        self.self_attn = RelPositionAttention(cfg.attention_heads, d, cfg.key_bias)
        self.feed_forward = FeedForward(d, cfg.linear_units, cfg.activation_type)
        self.norm_ff = nn.LayerNorm(d, eps=1e-12)
        self.norm_mha = nn.LayerNorm(d, eps=1e-12)
        self.normalize_before = cfg.normalize_before

    def forward(
        self,
        x: torch.Tensor,
        pos_table: torch.Tensor,
        cache: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.norm_mha(x) if self.normalize_before else x
        att, new_cache = self.self_attn(h, pos_table, cache, mask)
        x = x + att
        if not self.normalize_before:
            x = self.norm_mha(x)
        h = self.norm_ff(x) if self.normalize_before else x
        x = x + self.feed_forward(h)
        if not self.normalize_before:
            x = self.norm_ff(x)
        return x, new_cache


class PreLookahead(nn.Module):
    def __init__(self, channels: int, lookahead: int):
        super().__init__()
        self.pre_lookahead_len = lookahead
        self.conv1 = nn.Conv1d(channels, channels, kernel_size=lookahead + 1)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=3)

    def forward(
        self, x: torch.Tensor, lookahead: tuple[int, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Whole sequence (b, t, c): zero look-ahead padding at the end. `lookahead` =
        (n, frames (b, pre_lookahead_len, c)): positions before n look ahead into these
        frames instead of x[n:] (a streamed prompt primed with its own look-ahead)."""
        if lookahead is None:
            h = F.pad(x.transpose(1, 2), (0, self.pre_lookahead_len))
            h = self.conv1(h)
        else:
            n, la = lookahead
            head = torch.cat([x[:, :n], la.to(x)], dim=1).transpose(1, 2)
            tail = F.pad(x[:, n:].transpose(1, 2), (0, self.pre_lookahead_len))
            h = torch.cat([self.conv1(head), self.conv1(tail)], dim=2)
        h = F.leaky_relu(h)
        h = self.conv2(F.pad(h, (2, 0)))
        return h.transpose(1, 2) + x

    def forward_chunk(
        self, x: torch.Tensor, cache: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (b, t, c) ends with `pre_lookahead_len` look-ahead frames, which are consumed."""
        h = F.leaky_relu(self.conv1(x.transpose(1, 2)))
        if cache is None:
            cache = h.new_zeros(h.shape[0], h.shape[1], 2)
        new_cache = h[..., -2:]
        h = self.conv2(torch.cat([cache, h], dim=2))
        return h.transpose(1, 2) + x[:, : -self.pre_lookahead_len], new_cache


class Upsample(nn.Module):
    def __init__(self, channels: int, stride: int, scale_factor: float):
        super().__init__()
        self.stride = stride
        self.scale_factor = float(scale_factor)
        self.conv = nn.Conv1d(channels, channels, stride * 2 + 1)

    def forward(self, x: torch.Tensor, cache: torch.Tensor | None = None):
        """x (b, c, t) -> (b, c, t*stride); returns the new causal cache too."""
        h = F.interpolate(x, scale_factor=self.scale_factor, mode="nearest")
        if cache is None:
            cache = h.new_zeros(h.shape[0], h.shape[1], self.stride * 2)
        h = torch.cat([cache, h], dim=2)
        new_cache = h[..., -self.stride * 2 :]
        return self.conv(h), new_cache


class UpsampleConformerEncoder(nn.Module):
    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        d = cfg.output_size
        self.cfg = cfg
        self.embed = LinearEmbed(cfg.input_size, d)
        self.pre_lookahead_layer = PreLookahead(d, cfg.pre_lookahead_len)
        self.encoders = nn.ModuleList([ConformerBlock(cfg) for _ in range(cfg.num_blocks)])
        self.up_layer = Upsample(d, cfg.up_stride, cfg.up_scale_factor)
        self.up_embed = LinearEmbed(cfg.input_size, d)
        self.up_encoders = nn.ModuleList([ConformerBlock(cfg) for _ in range(cfg.num_up_blocks)])
        self.after_norm = nn.LayerNorm(d, eps=1e-5)

    def _table(self, size: int, like: torch.Tensor) -> torch.Tensor:
        return rel_position_table(self.cfg.output_size, size, like.device, like.dtype)

    def forward(
        self,
        xs: torch.Tensor,
        chunk_ids: torch.Tensor | None = None,
        lookahead: tuple[int, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Encode a whole (b, t, input_size) sequence -> (b, t*stride, d).

        Without `chunk_ids` every position attends to all others (the reference's
        one-shot inference). With `chunk_ids` (t,) (non-decreasing chunk index per token)
        a position attends to its own and earlier chunks only, which is what streaming
        with the same chunks computes. `lookahead` = (n, inputs (b, pre_lookahead_len,
        input_size)): the first n positions (the prompt) see these look-ahead inputs
        instead of the following tokens, as a prompt primed with them in streaming."""
        x = self.embed(xs)
        if lookahead is not None:
            lookahead = (lookahead[0], self.embed(lookahead[1]))
        x = self.pre_lookahead_layer(x, lookahead)
        mask1 = mask2 = None
        if chunk_ids is not None:
            ids2 = chunk_ids.repeat_interleave(self.cfg.up_stride)
            mask1 = chunk_ids[None, :] <= chunk_ids[:, None]
            mask2 = ids2[None, :] <= ids2[:, None]
        table = self._table(x.shape[1], x)
        for layer in self.encoders:
            x, _ = layer(x, table, None, mask1)
        x, _ = self.up_layer(x.transpose(1, 2))
        x = self.up_embed(x.transpose(1, 2))
        table = self._table(x.shape[1], x)
        for layer in self.up_encoders:
            x, _ = layer(x, table, None, mask2)
        return self.after_norm(x) if self.cfg.normalize_before else x

    def forward_chunk(
        self,
        xs: torch.Tensor,
        last_chunk: bool = False,
        cnn_cache: torch.Tensor | None = None,
        att_cache: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One chunk (b, t + lookahead, input_size) -> (b, t*stride, d) and new caches."""
        n1 = len(self.encoders)
        offset = att_cache.shape[3] // self.cfg.up_stride if att_cache is not None else 0
        x = self.embed(xs)
        if last_chunk:
            x = F.pad(x, (0, 0, 0, self.cfg.pre_lookahead_len))
        x, new_cnn1 = self.pre_lookahead_layer.forward_chunk(
            x, cnn_cache[:, :, :2] if cnn_cache is not None else None
        )
        table = self._table(offset + x.shape[1], x)
        caches1 = []
        for i, layer in enumerate(self.encoders):
            c = att_cache[i, :, :, :offset] if att_cache is not None else None
            x, nc = layer(x, table, c)
            caches1.append(nc)
        x, new_cnn2 = self.up_layer(
            x.transpose(1, 2), cnn_cache[:, :, 2:] if cnn_cache is not None else None
        )
        x = self.up_embed(x.transpose(1, 2))
        table = self._table(offset * self.cfg.up_stride + x.shape[1], x)
        caches2 = []
        for i, layer in enumerate(self.up_encoders):
            c = att_cache[n1 + i] if att_cache is not None else None
            x, nc = layer(x, table, c)
            caches2.append(nc)
        if self.cfg.normalize_before:
            x = self.after_norm(x)
        new_att = torch.cat(
            [torch.stack(caches1).repeat(1, 1, 1, self.cfg.up_stride, 1), torch.stack(caches2)],
            dim=0,
        )
        return x, torch.cat([new_cnn1, new_cnn2], dim=2), new_att
