"""`write_tiny_token2wav(dir)`: a tiny random-weight `token2wav/` folder in the official layout.

Files: `flow.yaml` (HyperPyYAML tags as shipped, small sizes, plus a `hift:` entry for
the small vocoder), `flow.pt`, `hift.pt` (keys with the `generator.` prefix and
weight-norm parametrizations, as a torch >= 2.1 reference save produces),
`speech_tokenizer_v2_25hz.onnx` and `campplus.onnx`. The two ONNX graphs are small
stand-ins built with the `onnx` helper API that keep the real input/output signatures:

- tokenizer: `feats` float32 (1, 128, T), `feats_length` int32 (1,) -> `indices`
  int64 (1, ceil(T/4)) in 0..6560 (two stride-2 convolutions, like the real encoder's
  length arithmetic);
- CAM++: `input` float32 (1, T, 80) -> `output` float32 (1, 192) (per-bin RMS over
  time, then a linear map, so different voices give different embeddings).

Everything runs on a CPU in well under a second per call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from model.token2wav.config import (
    EncoderConfig,
    EstimatorConfig,
    FlowConfig,
    HiFTConfig,
    Token2WavConfig,
    write_flow_yaml,
)
from model.token2wav.flow import FlowModel
from model.token2wav.hift import HiFTGenerator

TINY_CONFIG = Token2WavConfig(
    flow=FlowConfig(
        input_size=32,
        encoder=EncoderConfig(
            input_size=32,
            output_size=32,
            num_blocks=1,
            num_up_blocks=1,
            attention_heads=2,
            linear_units=64,
        ),
        estimator=EstimatorConfig(depth=2, num_heads=2, head_dim=16, hidden_size=32),
    ),
    hift=HiFTConfig(
        base_channels=16,
        f0_cond_channels=16,
        resblock_kernel_sizes=(3, 5),
        resblock_dilation_sizes=((1, 3), (1, 3)),
        source_resblock_kernel_sizes=(3, 3, 5),
        source_resblock_dilation_sizes=((1, 3), (1, 3), (1, 3)),
    ),
)


def _tokenizer_onnx(path: Path, rng: np.random.Generator) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w1 = (rng.standard_normal((8, 128, 3)) * 0.3).astype(np.float32)
    b1 = np.zeros(8, np.float32)
    w2 = (rng.standard_normal((1, 8, 3)) * 0.3).astype(np.float32)
    b2 = np.zeros(1, np.float32)
    inits = [
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(b1, "b1"),
        numpy_helper.from_array(w2, "w2"),
        numpy_helper.from_array(b2, "b2"),
        numpy_helper.from_array(np.array(6560.0, np.float32), "vmax"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array([1, 1, 1], np.int64), "shape111"),
        numpy_helper.from_array(np.array([1], np.int64), "axis1"),
    ]
    nodes = [
        helper.make_node(
            "Conv", ["feats", "w1", "b1"], ["c1"], strides=[2], pads=[1, 1], kernel_shape=[3]
        ),
        helper.make_node("Tanh", ["c1"], ["a1"]),
        helper.make_node(
            "Conv", ["a1", "w2", "b2"], ["c2"], strides=[2], pads=[1, 1], kernel_shape=[3]
        ),
        helper.make_node("Cast", ["feats_length"], ["lenf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["lenf", "zero"], ["len0"]),
        helper.make_node("Reshape", ["len0", "shape111"], ["len0r"]),
        helper.make_node("Add", ["c2", "len0r"], ["c3"]),
        helper.make_node("Sigmoid", ["c3"], ["s"]),
        helper.make_node("Mul", ["s", "vmax"], ["sv"]),
        helper.make_node("Floor", ["sv"], ["fl"]),
        helper.make_node("Cast", ["fl"], ["ci"], to=TensorProto.INT64),
        helper.make_node("Squeeze", ["ci", "axis1"], ["indices"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_s3tokenizer_v2",
        [
            helper.make_tensor_value_info("feats", TensorProto.FLOAT, [1, 128, "T"]),
            helper.make_tensor_value_info("feats_length", TensorProto.INT32, [1]),
        ],
        [helper.make_tensor_value_info("indices", TensorProto.INT64, [1, "T_tok"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _campplus_onnx(path: Path, rng: np.random.Generator) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = (rng.standard_normal((80, 192)) * 0.5).astype(np.float32)
    b = (rng.standard_normal(192) * 0.1).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    nodes = [
        helper.make_node("Mul", ["input", "input"], ["sq"]),
        helper.make_node("ReduceMean", ["sq"], ["ms"], axes=[1], keepdims=0),
        helper.make_node("Sqrt", ["ms"], ["rms"]),
        helper.make_node("MatMul", ["rms", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["output"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_campplus",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, "T", 80])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 192])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def random_models(config: Token2WavConfig, seed: int = 0) -> tuple[FlowModel, HiFTGenerator]:
    """Flow and HiFT modules with deterministic random weights."""
    torch.manual_seed(seed)
    flow = FlowModel(config.flow)
    hift = HiFTGenerator(config.hift)
    with torch.no_grad():
        # default init leaves the tiny vocoder almost deaf to its mel input; a larger
        # weight-norm gain makes the waveform follow the mel (and so the voice prompt)
        for name, p in hift.named_parameters():
            if name.endswith("parametrizations.weight.original0"):
                p.mul_(1.25)
    return flow, hift


def write_tiny_token2wav(
    directory: str | Path, config: Token2WavConfig = TINY_CONFIG, seed: int = 0
) -> Path:
    """Write a tiny random-weight token2wav folder; returns its path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    flow, hift = random_models(config, seed)
    write_flow_yaml(d / "flow.yaml", config)
    torch.save(flow.state_dict(), d / "flow.pt")
    torch.save({f"generator.{k}": v for k, v in hift.state_dict().items()}, d / "hift.pt")
    rng = np.random.default_rng(seed)
    _tokenizer_onnx(d / "speech_tokenizer_v2_25hz.onnx", rng)
    _campplus_onnx(d / "campplus.onnx", rng)
    return d
