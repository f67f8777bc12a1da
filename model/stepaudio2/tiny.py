"""Write a tiny random-weight Step-Audio 2 checkpoint in the official layout.

`config.json` (model_type step_audio_2, nested `audio_encoder_config` / `text_config`),
`model.safetensors` with the official parameter names, `generation_config.json`, and
tokenizer files whose special tokens sit at the official ids (see tokens.py). The real
vocabulary size (158720) and id ranges are kept; only the widths and depths shrink.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from model.stepaudio2.configuration import StepAudio2Config
from model.stepaudio2.modeling import StepAudio2ForCausalLM
from model.stepaudio2.tokens import (
    AUDIO_OFFSET,
    N_AUDIO_CODES,
    OFFICIAL_IDS,
    write_tokenizer_files,
)
from model.token2wav import write_tiny_token2wav

TINY_TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_attention_groups": 2,
    "num_key_value_heads": 2,
    "hidden_act": "silu",
    "max_seq_len": 4096,
    "max_position_embeddings": 4096,
    "vocab_size": 158720,
    "rms_norm_eps": 1e-6,
    "rope_theta": 1000000.0,
    "rope_scaling": None,
    "eos_token_id": 151643,
    "pad_token_id": 151643,
}

TINY_AUDIO_ENCODER_CONFIG: dict[str, Any] = {
    "n_mels": 128,
    "n_audio_ctx": 1500,
    "n_audio_state": 32,
    "n_audio_head": 2,
    "n_audio_layer": 2,
    "llm_dim": 64,
    "kernel_size": 3,
    "adapter_stride": 2,
}


def tiny_config(**overrides: Any) -> StepAudio2Config:
    text = {**TINY_TEXT_CONFIG, **overrides.pop("text_config", {})}
    enc = {**TINY_AUDIO_ENCODER_CONFIG, **overrides.pop("audio_encoder_config", {})}
    return StepAudio2Config(
        text_config=text,
        audio_encoder_config=enc,
        architectures=["StepAudio2ForCausalLM"],
        eos_token_id=OFFICIAL_IDS["<|EOT|>"],
        **overrides,
    )


def write_tiny_checkpoint(
    out_dir: str | Path,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    token2wav: bool = True,
    *,
    speech_bias: float | None = None,
    max_new_tokens: int = 48,
) -> Path:
    """Create `out_dir` with a random-weight tiny checkpoint; returns the directory.

    With `token2wav` (and the `model.token2wav` package present) a tiny random-weight
    `token2wav/` folder is written too, as in the official checkpoint layout.

    `speech_bias` (e.g. 200) makes a checkpoint that mostly speaks: the output rows of the
    speech codes are scaled up by it, so a spoken reply is a long run of audio tokens (random
    weights otherwise pick one of 158720 ids, a speech code only 4 % of the time). Streaming
    tests and benchmarks use it to get replies of a realistic length in speech codes.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    config = tiny_config()
    model = StepAudio2ForCausalLM(config).to(dtype)
    if speech_bias:
        with torch.no_grad():
            rows = slice(AUDIO_OFFSET, AUDIO_OFFSET + N_AUDIO_CODES)
            model.get_output_embeddings().weight[rows] *= speech_bias
    model.generation_config.eos_token_id = OFFICIAL_IDS["<|EOT|>"]
    model.generation_config.pad_token_id = OFFICIAL_IDS["<|endoftext|>"]
    # random weights rarely say <|EOT|>; keep replies short
    model.generation_config.max_new_tokens = max_new_tokens
    model.save_pretrained(out)
    write_tokenizer_files(out)
    if token2wav:
        write_tiny_token2wav(out / "token2wav", seed=seed)
    return out


_SHARED: dict[int, Path] = {}


def shared_tiny_checkpoint(seed: int = 0) -> Path:
    """One tiny checkpoint (without token2wav/, for speed) per process, shared by tests."""
    import tempfile

    if seed not in _SHARED or not (_SHARED[seed] / "config.json").is_file():
        _SHARED[seed] = write_tiny_checkpoint(
            Path(tempfile.mkdtemp(prefix="stepvox-sa2-tiny-")), seed=seed, token2wav=False
        )
    return _SHARED[seed]
