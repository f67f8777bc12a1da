"""Configuration classes for Step-Audio 2 (`model_type: step_audio_2`).

The field names follow the `config.json` of the public Step-Audio-2-mini release:
a top-level `StepAudio2Config` with two nested dicts,

* `audio_encoder_config`: `n_mels`, `n_audio_ctx`, `n_audio_state`, `n_audio_head`,
  `n_audio_layer`, `llm_dim`, `kernel_size`, `adapter_stride`;
* `text_config`: the Qwen2.5-7B decoder fields (`hidden_size`, `intermediate_size`,
  `num_hidden_layers`, `num_attention_heads`, `num_attention_groups`,
  `num_key_value_heads`, `vocab_size`, `max_position_embeddings`, `max_seq_len`,
  `rms_norm_eps`, `rope_theta`, `rope_scaling`, ...).

Checked against (read for facts only, no code copied): the configuration module of
vLLM's Step-Audio 2 build (`vllm/transformers_utils/configs/step_audio_2.py`:
`StepAudio2EncoderConfig`, `StepAudio2TextConfig`, `StepAudio2Config`) and the
`modeling_step_audio_2.py` shipped with the Hugging Face checkpoint, which reads
`config.audio_encoder_config.{n_mels,n_audio_ctx,n_audio_state,n_audio_head,
n_audio_layer,llm_dim,kernel_size,adapter_stride}` and builds `Qwen2Model(config.text_config)`.

`text_config` is kept as a plain `transformers.Qwen2Config`, so the decoder is built
from transformers' own Qwen2 modules. Extra official keys (`num_attention_groups`,
`max_seq_len`) are accepted and kept.
"""

from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig, Qwen2Config

# Token id layout of the public checkpoint (see model/stepaudio2/tokens.py for the
# names; the runtime always reads the ids from the tokenizer files).
AUDIO_TOKEN_OFFSET = 151696  # <audio_0>; audio code = id - 151696
TEXT_VOCAB_LIMIT = 151688  # text ids (incl. Qwen specials and <|EOT|>) are below this
DEFAULT_AUDIO_PATCH_ID = 151690  # <audio_patch> (vLLM's AUDIO_PATCH_TOKEN_ID)


class StepAudio2EncoderConfig(PretrainedConfig):
    """Whisper-style audio encoder + adaptor (`audio_encoder_config` in config.json)."""

    model_type = "step_audio_2_encoder"

    def __init__(
        self,
        n_mels: int = 128,
        n_audio_ctx: int = 1500,
        n_audio_state: int = 1280,
        n_audio_head: int = 20,
        n_audio_layer: int = 32,
        llm_dim: int = 3584,
        kernel_size: int = 3,
        adapter_stride: int = 2,
        **kwargs: Any,
    ) -> None:
        self.n_mels = n_mels
        self.n_audio_ctx = n_audio_ctx
        self.n_audio_state = n_audio_state
        self.n_audio_head = n_audio_head
        self.n_audio_layer = n_audio_layer
        self.llm_dim = llm_dim
        self.kernel_size = kernel_size
        self.adapter_stride = adapter_stride
        super().__init__(**kwargs)


# Step-Audio-2-mini decoder (Qwen2.5-7B shape); used when text_config is absent.
MINI_TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_attention_groups": 4,
    "num_key_value_heads": 4,
    "hidden_act": "silu",
    "max_seq_len": 16384,
    "max_position_embeddings": 16384,
    "vocab_size": 158720,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0,
    "rope_scaling": None,
    "eos_token_id": 151643,
    "pad_token_id": 151643,
    "tie_word_embeddings": False,
}

MINI_AUDIO_ENCODER_CONFIG: dict[str, Any] = {
    "n_mels": 128,
    "n_audio_ctx": 1500,
    "n_audio_state": 1280,
    "n_audio_head": 20,
    "n_audio_layer": 32,
    "llm_dim": 3584,
    "kernel_size": 3,
    "adapter_stride": 2,
}


def _text_config(value: Any) -> Qwen2Config:
    if isinstance(value, Qwen2Config):
        return value
    data = dict(MINI_TEXT_CONFIG if value is None else value)
    data.pop("model_type", None)
    groups = data.get("num_attention_groups")
    if groups is not None and "num_key_value_heads" not in data:
        data["num_key_value_heads"] = groups
    data.setdefault("tie_word_embeddings", False)
    data.setdefault("use_sliding_window", False)
    return Qwen2Config(**data)


class StepAudio2Config(PretrainedConfig):
    """Top-level Step-Audio 2 config: audio encoder/adaptor + Qwen2 decoder."""

    model_type = "step_audio_2"
    sub_configs = {"text_config": Qwen2Config, "audio_encoder_config": StepAudio2EncoderConfig}

    def __init__(
        self,
        audio_encoder_config: dict | StepAudio2EncoderConfig | None = None,
        text_config: dict | Qwen2Config | None = None,
        audio_patch_token_id: int = DEFAULT_AUDIO_PATCH_ID,
        audio_token_offset: int = AUDIO_TOKEN_OFFSET,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("tie_word_embeddings", False)
        kwargs.setdefault("use_sliding_window", False)
        # sub-configs first: PretrainedConfig.__init__ validates token ids through them
        if isinstance(audio_encoder_config, StepAudio2EncoderConfig):
            self.audio_encoder_config = audio_encoder_config
        else:
            enc = dict(
                MINI_AUDIO_ENCODER_CONFIG if audio_encoder_config is None else audio_encoder_config
            )
            enc.pop("model_type", None)
            self.audio_encoder_config = StepAudio2EncoderConfig(**enc)
        self.text_config = _text_config(text_config)
        self.audio_patch_token_id = audio_patch_token_id
        self.audio_token_offset = audio_token_offset
        super().__init__(**kwargs)

    # GenerationMixin and friends look these up on the top-level config.
    @property
    def vocab_size(self) -> int:  # type: ignore[override]
        return self.text_config.vocab_size

    @property
    def hidden_size(self) -> int:
        return self.text_config.hidden_size

    @property
    def num_hidden_layers(self) -> int:
        return self.text_config.num_hidden_layers

    def get_text_config(self, *args: Any, **kwargs: Any) -> Qwen2Config:
        return self.text_config
