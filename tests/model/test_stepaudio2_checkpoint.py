"""Tiny Step-Audio 2 checkpoints: official layout, Auto-class round trip, strict loading."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

import model.stepaudio2  # noqa: F401  (registers step_audio_2)
from model.stepaudio2 import StepAudio2CheckpointError, StepAudio2ForCausalLM
from model.stepaudio2.tiny import shared_tiny_checkpoint

OFFICIAL_PREFIXES = ("model.", "lm_head.", "encoder.", "adapter.")


@pytest.fixture(scope="module")
def tiny_dir():
    return shared_tiny_checkpoint()


def test_layout_and_config_fields(tiny_dir):
    names = {p.name for p in tiny_dir.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    cfg = json.loads((tiny_dir / "config.json").read_text())
    assert cfg["model_type"] == "step_audio_2"
    assert cfg["architectures"] == ["StepAudio2ForCausalLM"]
    enc = cfg["audio_encoder_config"]
    for key in ("n_mels", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                "llm_dim", "kernel_size", "adapter_stride"):  # fmt: skip
        assert key in enc
    assert cfg["text_config"]["vocab_size"] == 158720


def test_official_parameter_names(tiny_dir):
    keys = set(load_file(str(tiny_dir / "model.safetensors")))
    assert all(k.startswith(OFFICIAL_PREFIXES) for k in keys)
    for k in (
        "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
        "model.layers.0.self_attn.q_proj.bias", "model.layers.1.mlp.gate_proj.weight",
        "encoder.conv1.weight", "encoder.conv2.bias", "encoder.positional_embedding.weight",
        "encoder.blocks.0.attn.query.bias", "encoder.blocks.0.attn.key.weight",
        "encoder.blocks.1.mlp.2.weight", "encoder.blocks.1.mlp_ln.bias", "encoder.after_norm.weight",
        "adapter.conv.weight", "adapter.linear1.bias", "adapter.linear2.weight",
    ):  # fmt: skip
        assert k in keys, k
    assert "encoder.blocks.0.attn.key.bias" not in keys  # Whisper: key has no bias
    assert "model.layers.0.self_attn.o_proj.bias" not in keys


def test_auto_class_round_trip(tiny_dir, tmp_path):
    cfg = AutoConfig.from_pretrained(tiny_dir)
    assert type(cfg).__name__ == "StepAudio2Config"
    m = AutoModelForCausalLM.from_pretrained(tiny_dir)
    assert isinstance(m, StepAudio2ForCausalLM)
    saved = load_file(str(tiny_dir / "model.safetensors"))
    state = m.state_dict()
    assert set(state) == set(saved)
    for k, v in saved.items():
        assert torch.equal(state[k], v), k
    # save again -> load again -> identical logits
    m.save_pretrained(tmp_path / "again")
    m2 = AutoModelForCausalLM.from_pretrained(tmp_path / "again")
    ids = torch.tensor([[151666, 100, 200, 151665]])
    with torch.no_grad():
        assert torch.allclose(m(input_ids=ids).logits, m2(input_ids=ids).logits)


def test_tokenizer_special_ids(tiny_dir):
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    ids = {t: tok.convert_tokens_to_ids(t) for t in (
        "<|EOT|>", "<audio_start>", "<audio_end>", "<audio_patch>", "<tts_start>", "<tts_end>",
        "<tool_call>", "</tool_call>", "<audio_0>", "<audio_6561>")}  # fmt: skip
    assert ids["<audio_start>"] == 151688 and ids["<audio_patch>"] == 151690
    assert ids["<tts_start>"] == 151693 and ids["<tts_end>"] == 151694
    assert ids["<|EOT|>"] == 151665 and ids["<audio_0>"] == 151696 and ids["<audio_6561>"] == 158257
    assert all(i < 151688 for i in tok("hello world")["input_ids"])


def _broken_copy(src, dst, edit):
    shutil.copytree(src, dst)
    weights = load_file(str(dst / "model.safetensors"))
    edit(weights)
    save_file(weights, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


def test_missing_unexpected_and_misshaped_keys_fail_in_one_error(tiny_dir, tmp_path):
    def edit(w):
        del w["encoder.after_norm.weight"]
        w["encoder.blocks.0.attn.key.bias"] = torch.zeros(32)
        w["adapter.linear2.weight"] = torch.zeros(65, 2048)

    bad = _broken_copy(tiny_dir, tmp_path / "bad", edit)
    with pytest.raises(StepAudio2CheckpointError) as err:
        AutoModelForCausalLM.from_pretrained(bad)
    msg = str(err.value)
    assert "missing 1: encoder.after_norm.weight" in msg
    assert "unexpected 1: encoder.blocks.0.attn.key.bias" in msg
    assert "adapter.linear2.weight (checkpoint [65, 2048], config [64, 2048])" in msg
    assert "\n" not in msg


def test_no_weights_is_a_clear_error(tiny_dir, tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    shutil.copy(tiny_dir / "config.json", d / "config.json")
    with pytest.raises(StepAudio2CheckpointError, match="no \\*.safetensors"):
        AutoModelForCausalLM.from_pretrained(d)


def test_full_size_config_has_the_official_shapes():
    from model.stepaudio2 import StepAudio2Config
    from model.stepaudio2.modeling import expected_shapes

    shapes = expected_shapes(StepAudio2Config())  # Step-Audio-2-mini, built on the meta device
    assert shapes["encoder.positional_embedding.weight"] == (1500, 1280)
    assert shapes["encoder.conv1.weight"] == (1280, 128, 3)
    assert shapes["encoder.blocks.31.mlp.0.weight"] == (5120, 1280)
    assert "encoder.blocks.32.attn_ln.weight" not in shapes
    assert shapes["adapter.conv.weight"] == (1280, 1280, 3)
    assert shapes["adapter.linear1.weight"] == (2048, 1280)
    assert shapes["adapter.linear2.weight"] == (3584, 2048)
    assert shapes["model.layers.27.self_attn.k_proj.weight"] == (512, 3584)
    assert shapes["model.layers.27.mlp.down_proj.weight"] == (3584, 18944)
    assert shapes["lm_head.weight"] == shapes["model.embed_tokens.weight"] == (158720, 3584)
    n = sum(int(torch.tensor(s).prod()) for s in shapes.values())
    assert 8.0e9 < n < 8.6e9  # "about 8B parameters"


def test_sharded_checkpoint_with_index(tiny_dir, tmp_path):
    m = AutoModelForCausalLM.from_pretrained(tiny_dir)
    out = tmp_path / "sharded"
    m.save_pretrained(out, max_shard_size="30MB")
    assert (out / "model.safetensors.index.json").is_file()
    shards = sorted(out.glob("model-*.safetensors"))
    assert len(shards) > 1
    AutoModelForCausalLM.from_pretrained(out)
    shards[-1].unlink()
    with pytest.raises(StepAudio2CheckpointError, match="listed in the index but missing"):
        AutoModelForCausalLM.from_pretrained(out)
