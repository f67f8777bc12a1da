"""Hyper-parameters of Step-Audio 2's token2wav, read from (and written to) `flow.yaml`.

The checkpoint's `token2wav/flow.yaml` is a HyperPyYAML document whose `flow` entry is
built from four tagged constructors (facts from the public Step-Audio 2 release,
stepfun-ai/Step-Audio2 `token2wav.py`, and the flow contract quoted by vLLM-Omni's
Lychee token2wav stage):

```
flow: !new:cosyvoice2.flow.flow.CausalMaskedDiffWithXvec
    input_size: 512, output_size: 80, spk_embed_dim: 192, output_type: mel, vocab_size: 6561
    encoder: !new:cosyvoice2.transformer.upsample_encoder_v2.UpsampleConformerEncoderV2
        input_size: 512, output_size: 512, input_layer: linear, pre_lookahead_len: 3,
        num_blocks: 6, num_up_blocks: 4, up_stride: 2, up_scale_factor: 2, attention_heads: 8,
        pos_enc_layer_type: rel_pos_espnet, selfattention_layer_type: rel_selfattn,
        key_bias: true, linear_units: 2048, dropout rates ..., normalize_before: true
    decoder: !new:cosyvoice2.flow.flow_matching.CausalConditionalCFM
        inference_cfg_rate: 0.7
        estimator: !new:cosyvoice2.flow.decoder_dit.DiT
            in_channels: 320, out_channels: 80, mlp_ratio: 4.0, depth: 16,
            num_heads: 8, head_dim: 64, hidden_size: 512
```

The HiFT vocoder is not described in `flow.yaml`: the reference builds `HiFTGenerator()`
with its defaults (24 kHz, 80 mels, base 512 channels, upsample rates 8/5/3, iSTFT
n_fft 16 hop 4). We keep those defaults in `HiFTConfig` and allow an optional `hift`
entry in `flow.yaml` (written only by the tiny writer) to shrink the vocoder for tests.

We parse the YAML with a safe loader that turns every `!new:`/`!name:`/`!apply:` tag
into a plain mapping; nothing named in the file is imported or executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

FLOW_TAG = "!new:cosyvoice2.flow.flow.CausalMaskedDiffWithXvec"
ENCODER_TAG = "!new:cosyvoice2.transformer.upsample_encoder_v2.UpsampleConformerEncoderV2"
DECODER_TAG = "!new:cosyvoice2.flow.flow_matching.CausalConditionalCFM"
ESTIMATOR_TAG = "!new:cosyvoice2.flow.decoder_dit.DiT"


class _Config(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EncoderConfig(_Config):
    """UpsampleConformerEncoderV2: token rate conformer, x2 upsample, frame rate conformer."""

    input_size: int = 512
    output_size: int = 512
    pre_lookahead_len: int = 3
    num_blocks: int = 6
    num_up_blocks: int = 4
    up_stride: int = 2
    up_scale_factor: float = 2.0
    attention_heads: int = 8
    key_bias: bool = True
    linear_units: int = 2048
    activation_type: str = "swish"
    normalize_before: bool = True


class EstimatorConfig(_Config):
    """The DiT velocity estimator of the conditional flow matching decoder."""

    in_channels: int = 320
    out_channels: int = 80
    mlp_ratio: float = 4.0
    depth: int = 16
    num_heads: int = 8
    head_dim: int = 64
    hidden_size: int = 512


class FlowConfig(_Config):
    input_size: int = 512
    output_size: int = 80
    spk_embed_dim: int = 192
    vocab_size: int = 6561
    inference_cfg_rate: float = 0.7
    encoder: EncoderConfig = EncoderConfig()
    estimator: EstimatorConfig = EstimatorConfig()


class HiFTConfig(_Config):
    """HiFTGenerator defaults of the reference (neural source filter + iSTFT, 24 kHz)."""

    in_channels: int = 80
    base_channels: int = 512
    nb_harmonics: int = 8
    sampling_rate: int = 24000
    nsf_alpha: float = 0.1
    nsf_sigma: float = 0.003
    nsf_voiced_threshold: float = 10.0
    upsample_rates: tuple[int, ...] = (8, 5, 3)
    upsample_kernel_sizes: tuple[int, ...] = (16, 11, 7)
    istft_n_fft: int = 16
    istft_hop_len: int = 4
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    source_resblock_kernel_sizes: tuple[int, ...] = (7, 7, 11)
    source_resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    lrelu_slope: float = 0.1
    audio_limit: float = 0.99
    f0_cond_channels: int = 512

    @property
    def hop_samples(self) -> int:
        """Waveform samples per mel frame (480 at 24 kHz / 50 Hz)."""
        n = self.istft_hop_len
        for r in self.upsample_rates:
            n *= r
        return n


class Token2WavConfig(_Config):
    flow: FlowConfig = FlowConfig()
    hift: HiFTConfig = HiFTConfig()


# -- YAML ---------------------------------------------------------------------
class _TaggedLoader(yaml.SafeLoader):
    """Safe loader: HyperPyYAML tags become mappings with a `__tag__` entry."""


def _construct_tagged(loader: _TaggedLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
        return {"__tag__": tag_suffix, **value}
    if isinstance(node, yaml.SequenceNode):
        return {"__tag__": tag_suffix, "args": loader.construct_sequence(node, deep=True)}
    return {"__tag__": tag_suffix, "value": loader.construct_scalar(node)}


for _prefix in ("!new:", "!name:", "!apply:", "!ref", "!copy", "!tuple", "!include:"):
    _TaggedLoader.add_multi_constructor(_prefix, _construct_tagged)


def _resolve_refs(value: Any, root: dict[str, Any]) -> Any:
    """Resolve the simple `!ref <key>` form against top-level keys."""
    if isinstance(value, dict):
        if value.get("__tag__") == "" and isinstance(value.get("value"), str):
            ref = value["value"].strip()
            if ref.startswith("<") and ref.endswith(">"):
                return _resolve_refs(root.get(ref[1:-1]), root)
        return {k: _resolve_refs(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_refs(v, root) for v in value]
    return value


def _fields(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != "__tag__"}


def parse_flow_yaml(path: Path) -> Token2WavConfig:
    """Read `flow.yaml`; raise ValueError naming the file when it has no usable `flow`."""
    try:
        doc = yaml.load(Path(path).read_text(), Loader=_TaggedLoader)
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e})") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("flow"), dict):
        raise ValueError(f"{path}: no 'flow' entry")
    doc = _resolve_refs(doc, doc)
    flow = doc["flow"]
    enc = flow.get("encoder")
    dec = flow.get("decoder")
    if (
        not isinstance(enc, dict)
        or not isinstance(dec, dict)
        or not isinstance(dec.get("estimator"), dict)
    ):
        raise ValueError(f"{path}: 'flow' needs encoder, decoder and decoder.estimator entries")
    for name, tag in (("encoder", ENCODER_TAG), ("decoder.estimator", ESTIMATOR_TAG)):
        node = enc if name == "encoder" else dec["estimator"]
        got = node.get("__tag__")
        if got and not tag.endswith(got):
            raise ValueError(f"{path}: flow.{name} is built by {got}, expected {tag}")
    flow_fields = _fields(flow)
    flow_fields.pop("encoder")
    flow_fields.pop("decoder")
    cfg = FlowConfig(
        **flow_fields,
        inference_cfg_rate=dec.get("inference_cfg_rate", 0.7),
        encoder=EncoderConfig(**_fields(enc)),
        estimator=EstimatorConfig(**_fields(dec["estimator"])),
    )
    hift = doc.get("hift")
    hift_cfg = HiFTConfig(**_fields(hift)) if isinstance(hift, dict) else HiFTConfig()
    return Token2WavConfig(flow=cfg, hift=hift_cfg)


def _yaml_block(d: dict[str, Any], indent: int) -> list[str]:
    lines = []
    pad = " " * indent
    for k, v in d.items():
        if isinstance(v, bool):
            lines.append(f"{pad}{k}: {'True' if v else 'False'}")
        elif isinstance(v, list | tuple):
            lines.append(f"{pad}{k}: {yaml.safe_dump(_plain(v), default_flow_style=True).strip()}")
        else:
            lines.append(f"{pad}{k}: {v}")
    return lines


def _plain(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_plain(x) for x in v]
    return v


def write_flow_yaml(path: Path, cfg: Token2WavConfig, *, include_hift: bool = True) -> None:
    """Write `flow.yaml` in the official HyperPyYAML layout (plus our optional `hift`)."""
    f, e, s = cfg.flow, cfg.flow.encoder, cfg.flow.estimator
    lines = [
        "# token2wav flow hyper-parameters (Step-Audio 2 / CosyVoice 2 layout)",
        f"flow: {FLOW_TAG}",
        *_yaml_block(
            {
                "input_size": f.input_size,
                "output_size": f.output_size,
                "spk_embed_dim": f.spk_embed_dim,
                "output_type": "mel",
                "vocab_size": f.vocab_size,
            },
            4,
        ),
        f"    encoder: {ENCODER_TAG}",
        *_yaml_block(
            {
                "input_size": e.input_size,
                "output_size": e.output_size,
                "input_layer": "linear",
                "pre_lookahead_len": e.pre_lookahead_len,
                "num_blocks": e.num_blocks,
                "num_up_blocks": e.num_up_blocks,
                "up_stride": e.up_stride,
                "up_scale_factor": e.up_scale_factor,
                "attention_heads": e.attention_heads,
                "pos_enc_layer_type": "rel_pos_espnet",
                "selfattention_layer_type": "rel_selfattn",
                "key_bias": e.key_bias,
                "linear_units": e.linear_units,
                "dropout_rate": 0.1,
                "positional_dropout_rate": 0.1,
                "attention_dropout_rate": 0.1,
                "normalize_before": e.normalize_before,
            },
            8,
        ),
        f"    decoder: {DECODER_TAG}",
        f"        inference_cfg_rate: {f.inference_cfg_rate}",
        f"        estimator: {ESTIMATOR_TAG}",
        *_yaml_block(s.model_dump(), 12),
    ]
    if include_hift and cfg.hift != HiFTConfig():
        lines.append("# vocoder size (not in the official file; defaults = HiFTGenerator())")
        lines.append("hift:")
        lines.extend(_yaml_block(cfg.hift.model_dump(), 4))
    Path(path).write_text("\n".join(lines) + "\n")
