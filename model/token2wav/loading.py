"""Strict loading of `flow.pt` and `hift.pt`.

Key layout (from the public Step-Audio 2 `token2wav.py`): `flow.pt` is the state dict of
the flow module itself (`input_embedding.*`, `spk_embed_affine_layer.*`, `encoder.*`,
`encoder_proj.*`, `decoder.estimator.*`); `hift.pt` is the vocoder's state dict, whose
keys may carry a `generator.` prefix (the reference strips it). Weight-normed layers
appear either as `<layer>.parametrizations.weight.original0/1` (torch >= 2.1) or as
`<layer>.weight_g/weight_v` (older torch); both are accepted.

Loading is strict: any missing or unexpected key, or a shape mismatch, raises
`CheckpointError` naming the file and the keys.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class CheckpointError(ValueError):
    """A checkpoint file does not match the model built from flow.yaml."""


def _load_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path}: file not found")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle / zip errors
        raise CheckpointError(f"{path}: not a torch state dict ({type(e).__name__}: {e})") from e
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{path}: not a state dict of tensors")
    return sd


def _normalize_hift_keys(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in sd.items():
        k = k.removeprefix("generator.")
        if k.endswith(".weight_g"):
            k = k[: -len(".weight_g")] + ".parametrizations.weight.original0"
        elif k.endswith(".weight_v"):
            k = k[: -len(".weight_v")] + ".parametrizations.weight.original1"
        out[k] = v
    return out


def _summarize(keys: list[str], n: int = 6) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_strict(module: nn.Module, path: Path, *, hift: bool = False) -> None:
    """Load `path` into `module`; raise CheckpointError on any key or shape mismatch."""
    sd = _load_file(Path(path))
    if hift:
        sd = _normalize_hift_keys(sd)
    expected = module.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing keys: {_summarize(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_summarize(unexpected)}")
    if not problems:
        bad = [
            f"{k} {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
            for k, v in expected.items()
            if tuple(sd[k].shape) != tuple(v.shape)
        ]
        if bad:
            problems.append(f"shape mismatch: {_summarize(bad, 4)}")
    if problems:
        raise CheckpointError(f"{path}: does not match flow.yaml ({'; '.join(problems)})")
    module.load_state_dict(sd, strict=True)
