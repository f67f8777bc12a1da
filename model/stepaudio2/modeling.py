"""Step-Audio 2 in torch, registered with transformers as `step_audio_2`.

Parameter names are those of the public Step-Audio-2-mini safetensors, so
`AutoModelForCausalLM.from_pretrained(DIR)` (after `import model.stepaudio2`) loads the official
checkpoint with no missing or unexpected keys and without `trust_remote_code`:

    model.*                         transformers' Qwen2Model (embed_tokens, layers.N.
                                    {self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj,
                                    input_layernorm, post_attention_layernorm}, norm)
    lm_head.weight                  untied, [vocab, hidden]
    encoder.conv1.{weight,bias}     Conv1d(n_mels -> n_state, k3, p1)
    encoder.conv2.{weight,bias}     Conv1d(n_state -> n_state, k3, s2, p1)
    encoder.positional_embedding.weight   learned, [n_audio_ctx, n_state]
    encoder.blocks.N.attn.{query,value,out}.{weight,bias}, encoder.blocks.N.attn.key.weight
                                    (Whisper attention: the key projection has no bias)
    encoder.blocks.N.attn_ln.{weight,bias}, encoder.blocks.N.mlp_ln.{weight,bias}
    encoder.blocks.N.mlp.0.{weight,bias}, encoder.blocks.N.mlp.2.{weight,bias}  (4x GELU MLP)
    encoder.after_norm.{weight,bias}      LayerNorm after the k2/s2 average pool
    adapter.conv.{weight,bias}      Conv1d(n_state -> n_state, kernel_size, adapter_stride, p1) + GELU
    adapter.linear1.{weight,bias}   Linear(n_state -> 2048), then ReLU
    adapter.linear2.{weight,bias}   Linear(2048 -> llm_dim)

Sources the names and the computation were checked against (read, not copied):
`modeling_step_audio_2.py` shipped with the stepfun-ai/Step-Audio-2-mini checkpoint
(AudioEncoder / Adaptor / StepAudio2ForCausalLM: `self.model = Qwen2Model(...)`,
`self.encoder`, `self.adapter`, `self.lm_head`; adaptor = conv+GELU, linear1, ReLU,
linear2 — REFERENCE.md's "GELU" after linear1 is not what the release does), and the
`StepAudio2ForCausalLM` of vLLM's step-audio2 build (same module tree, `load_weights`).

Audio features replace the embeddings of the `<audio_patch>` placeholders (the public
code writes them right after each `<audio_start>`; the prompt builder puts exactly
`n` placeholders there, so both describe the same positions).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel, Qwen2Model
from transformers.modeling_outputs import CausalLMOutputWithPast

from model.stepaudio2.configuration import StepAudio2Config, StepAudio2EncoderConfig


class StepAudio2CheckpointError(ValueError):
    """A checkpoint directory whose weights do not match the config."""


# --------------------------------------------------------------------------- encoder
class WhisperAttention(nn.Module):
    def __init__(self, n_state: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.query = nn.Linear(n_state, n_state)
        self.key = nn.Linear(n_state, n_state, bias=False)
        self.value = nn.Linear(n_state, n_state)
        self.out = nn.Linear(n_state, n_state)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        b, t, d = x.shape
        h = self.n_head

        def heads(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, h, d // h).transpose(1, 2)

        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        # same math as Whisper's q*s, k*s with s = head_dim**-0.25 (softmax scale 1/sqrt(dh))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class WhisperBlock(nn.Module):
    def __init__(self, n_state: int, n_head: int) -> None:
        super().__init__()
        self.attn = WhisperAttention(n_state, n_head)
        self.attn_ln = nn.LayerNorm(n_state)
        self.mlp = nn.Sequential(
            nn.Linear(n_state, 4 * n_state), nn.GELU(), nn.Linear(4 * n_state, n_state)
        )
        self.mlp_ln = nn.LayerNorm(n_state)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        x = x + self.attn(self.attn_ln(x), bias)
        return x + self.mlp(self.mlp_ln(x))


class StepAudio2AudioEncoder(nn.Module):
    """Whisper-style encoder: 2 convs, learned positions, pre-LN blocks, avg-pool, LayerNorm."""

    def __init__(self, cfg: StepAudio2EncoderConfig) -> None:
        super().__init__()
        n = cfg.n_audio_state
        self.conv1 = nn.Conv1d(cfg.n_mels, n, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(n, n, kernel_size=3, stride=2, padding=1)
        self.positional_embedding = nn.Embedding(cfg.n_audio_ctx, n)
        self.blocks = nn.ModuleList(
            WhisperBlock(n, cfg.n_audio_head) for _ in range(cfg.n_audio_layer)
        )
        self.avg_pooler = nn.AvgPool1d(2, stride=2)
        self.after_norm = nn.LayerNorm(n)

    def forward(
        self, mels: torch.Tensor, mel_lens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """mels [B, n_mels, T] (zero padded), mel_lens [B] valid frames -> [B, T', n], lens."""
        t_in = mels.shape[-1]
        x = F.gelu(self.conv1(mels))
        x = F.gelu(self.conv2(x)).transpose(1, 2)  # [B, T2, n]
        t2 = x.shape[1]
        if t2 > self.positional_embedding.num_embeddings:
            raise ValueError(
                f"audio chunk too long for the encoder: {t2} frames > n_audio_ctx "
                f"{self.positional_embedding.num_embeddings}"
            )
        # valid conv2 frames: frames whose centre lies inside the valid mel region
        frame = torch.arange(t_in, device=mels.device)
        valid = frame[None, :] < mel_lens[:, None]
        valid = valid[:, (t_in + 1) % 2 :: 2][:, :t2]
        bias = torch.zeros(valid.shape, dtype=x.dtype, device=x.device)
        bias = bias.masked_fill(~valid, torch.finfo(x.dtype).min)[:, None, None, :]
        x = x + self.positional_embedding.weight[:t2].to(x.dtype)
        for block in self.blocks:
            x = block(x, bias)
        x = self.avg_pooler(x.transpose(1, 2)).transpose(1, 2)
        return self.after_norm(x), (mel_lens + 1) // 2 // 2


class StepAudio2Adaptor(nn.Module):
    def __init__(self, cfg: StepAudio2EncoderConfig) -> None:
        super().__init__()
        n = cfg.n_audio_state
        self.stride = cfg.adapter_stride
        self.conv = nn.Conv1d(n, n, cfg.kernel_size, cfg.adapter_stride, padding=1)
        self.linear1 = nn.Linear(n, 2048)
        self.relu = nn.ReLU()
        self.linear2 = nn.Linear(2048, cfg.llm_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        return self.linear2(self.relu(self.linear1(x)))


# --------------------------------------------------------------------------- model
class StepAudio2PreTrainedModel(PreTrainedModel):
    config_class = StepAudio2Config
    config: StepAudio2Config
    base_model_prefix = ""
    main_input_name = "input_ids"
    _no_split_modules = ["Qwen2DecoderLayer", "WhisperBlock"]
    _supports_sdpa = True
    _supports_attention_backend = True

    def _init_weights(self, module: nn.Module) -> None:
        std = getattr(self.config.text_config, "initializer_range", 0.02)
        if isinstance(module, nn.Linear | nn.Conv1d):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=std)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif hasattr(module, "weight") and module.__class__.__name__.endswith("RMSNorm"):
            nn.init.ones_(module.weight)


class StepAudio2ForCausalLM(StepAudio2PreTrainedModel, GenerationMixin):
    """Audio encoder + adaptor feeding a Qwen2 decoder; outputs text and audio token logits."""

    def __init__(self, config: StepAudio2Config) -> None:
        super().__init__(config)
        self.model = Qwen2Model(config.text_config)
        self.encoder = StepAudio2AudioEncoder(config.audio_encoder_config)
        self.adapter = StepAudio2Adaptor(config.audio_encoder_config)
        self.lm_head = nn.Linear(
            config.text_config.hidden_size, config.text_config.vocab_size, bias=False
        )
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.model.embed_tokens

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.embed_tokens = value

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    # -- audio -------------------------------------------------------------
    def encode_audio(self, wavs: torch.Tensor, wav_lens: torch.Tensor) -> list[torch.Tensor]:
        """Log-mels [B, n_mels, T] + valid lengths -> list of [n_i, hidden] patch embeddings."""
        dtype = self.encoder.conv1.weight.dtype
        feats, lens = self.encoder(wavs.to(dtype), wav_lens)
        out = self.adapter(feats)
        lens = (lens - 1) // self.config.audio_encoder_config.adapter_stride + 1
        return [out[i, : int(n)] for i, n in enumerate(lens.tolist())]

    def embed_inputs(
        self,
        input_ids: torch.Tensor,
        wavs: torch.Tensor | None = None,
        wav_lens: torch.Tensor | None = None,
    ) -> torch.Tensor:
        embeds = self.model.embed_tokens(input_ids)
        if wavs is None:
            return embeds
        patches = self.encode_audio(wavs, wav_lens)
        flat = torch.cat(patches, dim=0).to(embeds.dtype)
        mask = input_ids == self.config.audio_patch_token_id
        n_slots = int(mask.sum())
        if n_slots != flat.shape[0]:
            raise ValueError(
                f"prompt has {n_slots} <audio_patch> placeholders but the audio gives "
                f"{flat.shape[0]} patches"
            )
        embeds = embeds.clone()
        embeds[mask] = flat
        return embeds

    # -- forward -----------------------------------------------------------
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Any = None,
        inputs_embeds: torch.Tensor | None = None,
        wavs: torch.Tensor | None = None,
        wav_lens: torch.Tensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int = 0,
        labels: torch.LongTensor | None = None,
        **kwargs: Any,
    ) -> CausalLMOutputWithPast:
        if inputs_embeds is None:
            inputs_embeds = self.embed_inputs(input_ids, wavs, wav_lens)
        out = self.model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            use_cache=use_cache,
            **kwargs,
        )
        hidden = out.last_hidden_state
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        logits = self.lm_head(hidden)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                labels[:, 1:].reshape(-1),
                ignore_index=-100,
            )
        return CausalLMOutputWithPast(loss=loss, logits=logits, past_key_values=out.past_key_values)

    def prepare_inputs_for_generation(
        self, input_ids: torch.Tensor, past_key_values: Any = None, **kwargs: Any
    ):
        # audio is only encoded on the first step; later steps reuse the KV cache
        # (transformers >= 5.2x passes the cache as `cache`, older ones as `past_key_values`)
        cache = kwargs.get("cache", past_key_values)
        first = cache is None or cache.get_seq_length() == 0
        wavs, wav_lens = kwargs.pop("wavs", None), kwargs.pop("wav_lens", None)
        if past_key_values is not None:
            kwargs["past_key_values"] = past_key_values
        inputs = super().prepare_inputs_for_generation(input_ids, **kwargs)
        if first and wavs is not None:
            inputs["wavs"], inputs["wav_lens"] = wavs, wav_lens
            if (
                inputs.get("input_ids") is None
                or inputs["input_ids"].shape[1] != input_ids.shape[1]
            ):
                inputs["input_ids"] = input_ids
        return inputs

    # -- strict loading -------------------------------------------------------
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: Any, *args: Any, **kwargs: Any):
        path = (
            Path(os.fspath(pretrained_model_name_or_path))
            if pretrained_model_name_or_path
            else None
        )
        if path is not None and path.is_dir():
            config = kwargs.get("config")
            if not isinstance(config, StepAudio2Config):
                config = StepAudio2Config.from_pretrained(path)
            check_checkpoint(path, config)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)


# --------------------------------------------------------------------------- checks
def expected_shapes(config: StepAudio2Config) -> dict[str, tuple[int, ...]]:
    """Parameter name -> shape for a config, without allocating weights."""
    with torch.device("meta"):
        m = StepAudio2ForCausalLM._from_config(config)
    return {k: tuple(v.shape) for k, v in m.state_dict().items()}


def checkpoint_shapes(model_dir: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from the safetensors headers (no tensor data is read)."""
    from safetensors import safe_open

    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    else:
        files = sorted(p.name for p in model_dir.glob("*.safetensors"))
    if not files:
        raise StepAudio2CheckpointError(f"{model_dir}: no *.safetensors weights found")
    shapes: dict[str, tuple[int, ...]] = {}
    for name in files:
        f = model_dir / name
        if not f.is_file():
            raise StepAudio2CheckpointError(f"{f}: listed in the index but missing")
        with safe_open(str(f), framework="pt") as sf:
            for key in sf.keys():
                shapes[key] = tuple(sf.get_slice(key).get_shape())
    return shapes


def check_checkpoint(model_dir: Path, config: StepAudio2Config) -> None:
    """Raise one StepAudio2CheckpointError listing missing, unexpected and mis-shaped keys."""
    want = expected_shapes(config)
    have = checkpoint_shapes(model_dir)
    missing = sorted(set(want) - set(have))
    unexpected = sorted(set(have) - set(want))
    wrong = sorted(k for k in set(want) & set(have) if want[k] != have[k])
    if not (missing or unexpected or wrong):
        return

    def show(keys: list[str], fmt) -> str:
        head = ", ".join(fmt(k) for k in keys[:20])
        return head + (f", ... ({len(keys)} in all)" if len(keys) > 20 else "")

    parts = []
    if missing:
        parts.append(f"missing {len(missing)}: " + show(missing, str))
    if unexpected:
        parts.append(f"unexpected {len(unexpected)}: " + show(unexpected, str))
    if wrong:
        parts.append(
            f"wrong shape {len(wrong)}: "
            + show(wrong, lambda k: f"{k} (checkpoint {list(have[k])}, config {list(want[k])})")
        )
    raise StepAudio2CheckpointError(
        f"{model_dir}: checkpoint does not match config.json; " + "; ".join(parts)
    )
