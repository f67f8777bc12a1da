"""token2wav: flow.yaml, strict loading of flow.pt / hift.pt, one-shot synthesis (tiny weights)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from model.token2wav import (
    CheckpointError,
    Token2Wav,
    default_prompt_path,
    parse_flow_yaml,
    resolve_token2wav_dir,
    write_tiny_token2wav,
)
from model.token2wav.config import EncoderConfig, EstimatorConfig, FlowConfig, HiFTConfig
from model.token2wav.dit import Attention
from model.token2wav.tiny import TINY_CONFIG

# the official Step-Audio 2 mini flow.yaml contract (see model/token2wav/config.py)
OFFICIAL_FLOW_YAML = """
sample_rate: 24000
flow: !new:cosyvoice2.flow.flow.CausalMaskedDiffWithXvec
    input_size: 512
    output_size: 80
    spk_embed_dim: 192
    output_type: 'mel'
    vocab_size: 6561
    encoder: !new:cosyvoice2.transformer.upsample_encoder_v2.UpsampleConformerEncoderV2
        input_size: 512
        output_size: 512
        input_layer: 'linear'
        pre_lookahead_len: 3
        num_blocks: 6
        num_up_blocks: 4
        up_stride: 2
        up_scale_factor: 2
        attention_heads: 8
        pos_enc_layer_type: 'rel_pos_espnet'
        selfattention_layer_type: 'rel_selfattn'
        key_bias: true
        linear_units: 2048
        dropout_rate: 0.1
        positional_dropout_rate: 0.1
        attention_dropout_rate: 0.1
        normalize_before: true
    decoder: !new:cosyvoice2.flow.flow_matching.CausalConditionalCFM
        inference_cfg_rate: 0.7
        estimator: !new:cosyvoice2.flow.decoder_dit.DiT
            in_channels: 320
            out_channels: 80
            mlp_ratio: 4.0
            depth: 16
            num_heads: 8
            head_dim: 64
            hidden_size: 512
"""


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    write_tiny_token2wav(root / "token2wav")
    return root


@pytest.fixture(scope="module")
def t2w(tiny_dir):
    torch.set_num_threads(2)
    return Token2Wav.from_pretrained(tiny_dir)


def test_official_flow_yaml_parses_to_full_size(tmp_path):
    p = tmp_path / "flow.yaml"
    p.write_text(OFFICIAL_FLOW_YAML)
    cfg = parse_flow_yaml(p)
    assert cfg.flow == FlowConfig()
    assert cfg.flow.encoder == EncoderConfig()
    assert cfg.flow.estimator == EstimatorConfig(depth=16, hidden_size=512)
    assert cfg.hift == HiFTConfig()
    assert cfg.hift.hop_samples == 480


def test_flow_yaml_round_trip(tiny_dir):
    cfg = parse_flow_yaml(tiny_dir / "token2wav" / "flow.yaml")
    assert cfg == TINY_CONFIG
    text = (tiny_dir / "token2wav" / "flow.yaml").read_text()
    assert "!new:cosyvoice2.flow.decoder_dit.DiT" in text


def test_bad_flow_yaml_names_the_file(tmp_path):
    p = tmp_path / "flow.yaml"
    p.write_text("llm: 3\n")
    with pytest.raises(ValueError, match="flow.yaml: no 'flow' entry"):
        parse_flow_yaml(p)


def test_checkpoint_dir_or_token2wav_folder(tiny_dir, tmp_path):
    assert resolve_token2wav_dir(tiny_dir) == tiny_dir / "token2wav"
    assert resolve_token2wav_dir(tiny_dir / "token2wav") == tiny_dir / "token2wav"
    with pytest.raises(FileNotFoundError, match="no flow.yaml"):
        resolve_token2wav_dir(tmp_path)


def test_flow_pt_key_layout(tiny_dir):
    sd = torch.load(tiny_dir / "token2wav" / "flow.pt", weights_only=True)
    for key in (
        "input_embedding.weight",
        "spk_embed_affine_layer.weight",
        "encoder.embed.out.0.weight",
        "encoder.pre_lookahead_layer.conv1.weight",
        "encoder.encoders.0.self_attn.pos_bias_u",
        "encoder.encoders.0.self_attn.linear_pos.weight",
        "encoder.up_layer.conv.weight",
        "encoder.up_encoders.0.feed_forward.w_1.weight",
        "encoder.after_norm.weight",
        "encoder_proj.weight",
        "decoder.estimator.t_embedder.mlp.0.weight",
        "decoder.estimator.in_proj.weight",
        "decoder.estimator.blocks.0.attn.q_norm.weight",
        "decoder.estimator.blocks.0.conv.block.1.weight",
        "decoder.estimator.blocks.0.conv.block.3.weight",
        "decoder.estimator.blocks.0.conv.block.6.weight",
        "decoder.estimator.blocks.0.adaLN_modulation.1.weight",
        "decoder.estimator.final_layer.linear.weight",
    ):
        assert key in sd, key
    assert sd["input_embedding.weight"].shape == (6561, 32)
    assert not any("rand_noise" in k for k in sd)
    hift = torch.load(tiny_dir / "token2wav" / "hift.pt", weights_only=True)
    assert "generator.conv_pre.parametrizations.weight.original0" in hift
    assert "generator.f0_predictor.condnet.0.parametrizations.weight.original1" in hift
    assert "generator.m_source.l_linear.weight" in hift
    assert "generator.resblocks.0.activations1.0.alpha" in hift


def _copy(tiny_dir, tmp_path):
    d = tmp_path / "token2wav"
    shutil.copytree(tiny_dir / "token2wav", d)
    return d


def test_missing_key_is_named(tiny_dir, tmp_path):
    d = _copy(tiny_dir, tmp_path)
    sd = torch.load(d / "flow.pt", weights_only=True)
    del sd["encoder_proj.bias"]
    sd["extra.weight"] = torch.zeros(1)
    torch.save(sd, d / "flow.pt")
    with pytest.raises(CheckpointError) as e:
        Token2Wav.from_pretrained(d)
    msg = str(e.value)
    assert "flow.pt" in msg and "missing keys: encoder_proj.bias" in msg
    assert "unexpected keys: extra.weight" in msg


def test_shape_mismatch_is_named(tiny_dir, tmp_path):
    d = _copy(tiny_dir, tmp_path)
    sd = torch.load(d / "hift.pt", weights_only=True)
    sd["generator.m_source.l_linear.weight"] = torch.zeros(1, 4)
    torch.save(sd, d / "hift.pt")
    with pytest.raises(CheckpointError, match="shape mismatch: m_source.l_linear.weight"):
        Token2Wav.from_pretrained(d)


def test_old_weight_norm_names_load(tiny_dir, tmp_path, t2w):
    d = _copy(tiny_dir, tmp_path)
    sd = torch.load(d / "hift.pt", weights_only=True)
    old = {}
    for k, v in sd.items():
        k = k.replace(".parametrizations.weight.original0", ".weight_g")
        k = k.replace(".parametrizations.weight.original1", ".weight_v")
        old[k.removeprefix("generator.")] = v
    torch.save(old, d / "hift.pt")
    other = Token2Wav.from_pretrained(d)
    mel = torch.randn(1, 80, 10)
    g = torch.Generator().manual_seed(3)
    a, _ = other.hift(mel, generator=g)
    g = torch.Generator().manual_seed(3)
    b, _ = t2w.hift(mel, generator=g)
    assert torch.equal(a, b)


def test_100_tokens_make_4_seconds(t2w):
    tokens = [int(t) for t in np.random.default_rng(0).integers(0, 6561, 100)]
    wav = t2w.synthesize(tokens, default_prompt_path())
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert wav.shape[0] == 100 * 24000 // 25
    assert np.isfinite(wav).all() and np.abs(wav).max() <= 0.99 + 1e-6
    assert wav.std() > 1e-3


def test_out_of_range_token_rejected(t2w):
    with pytest.raises(ValueError, match="6561 is outside 0..6560"):
        t2w.synthesize([1, 6561], default_prompt_path())


def test_dit_attention_fused_qkv_follows_weight_changes():
    """The DiT's fused q/k/v projection equals the three separate ones, and is rebuilt
    when a weight changes (reloaded or edited in place)."""
    torch.manual_seed(0)
    attn = Attention(32, 2, 8).eval()
    x = torch.randn(2, 5, 32)

    def reference():
        b, t, _ = x.shape
        q = attn.q_norm(attn.to_q(x).view(b, t, 2, 8)).transpose(1, 2)
        k = attn.k_norm(attn.to_k(x).view(b, t, 2, 8)).transpose(1, 2)
        v = attn.to_v(x).view(b, t, 2, 8).transpose(1, 2)
        o = torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return attn.proj(o.transpose(1, 2).reshape(b, t, -1)), torch.cat([k, v], dim=-1)

    with torch.inference_mode():
        for _ in range(2):
            out, kv = attn(x)
            ref_out, ref_kv = reference()
            assert torch.allclose(out, ref_out, atol=1e-6)
            assert torch.allclose(kv, ref_kv, atol=1e-6)
            with torch.no_grad():
                attn.to_k.weight.mul_(2.0)  # edited in place: the fused weight is rebuilt
