"""`segnas.final.onnx_graph`: sub-grid rewrite exact at any size, graph counts as `describe`'s.

The graphs here are written with `onnx.helper` (no exporter), so these tests take milliseconds.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

from segnas.final.onnx_graph import graph_madds, graph_params, subgrid_depthwise

C = 8
LAYERS = [  # (name, kernel, dilation, groups, bias)
    ("dw5_r6", 5, 6, C, False),
    ("dw3_r3", 3, 3, C, True),
    ("dense3_r3", 3, 3, 1, True),  # dense: stays dilated
    ("dw3", 3, 1, C, False),  # undilated: stays as it is
]


def _weights(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    rng = np.random.default_rng(seed)
    return {
        name: (
            rng.standard_normal((C, C // groups, k, k)).astype(np.float32),
            rng.standard_normal(C).astype(np.float32) if bias else None,
        )
        for name, k, _, groups, bias in LAYERS
    }


def _graph(weights) -> onnx.ModelProto:
    """image (N, C, H, W), dynamic N, H, W -> the convolutions of `LAYERS` in a chain."""
    nodes, inits, x = [], [], "image"
    for name, k, d, groups, _ in LAYERS:
        w, b = weights[name]
        inits.append(numpy_helper.from_array(w, f"{name}.weight"))
        inputs = [x, f"{name}.weight"]
        if b is not None:
            inits.append(numpy_helper.from_array(b, f"{name}.bias"))
            inputs.append(f"{name}.bias")
        pad = d * (k // 2)
        nodes.append(
            helper.make_node(
                "Conv", inputs, [name], name=name, kernel_shape=[k, k], dilations=[d, d],
                pads=[pad] * 4, group=groups, strides=[1, 1],
            )
        )  # fmt: skip
        x = name
    dims = ["batch", C, "height", "width"]
    graph = helper.make_graph(
        nodes,
        "chain",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, dims)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def _torch_chain(x: torch.Tensor, weights) -> torch.Tensor:
    for name, k, d, groups, _ in LAYERS:
        w, b = weights[name]
        bias = None if b is None else torch.from_numpy(b)
        x = F.conv2d(x, torch.from_numpy(w), bias, 1, d * (k // 2), d, groups)
    return x


def _run(model: onnx.ModelProto, x: torch.Tensor) -> torch.Tensor:
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return torch.from_numpy(session.run(None, {"image": x.numpy()})[0])


def _dilated_depthwise(model: onnx.ModelProto) -> list[str]:
    found = []
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "Conv" and max(attrs.get("dilations", [1])) > 1:
            if attrs.get("group", 1) == C:
                found.append(node.name)
    return found


def test_rewrite_removes_dilated_depthwise_convolutions_only() -> None:
    model = _graph(_weights())
    assert _dilated_depthwise(model) == ["dw5_r6", "dw3_r3"]
    assert subgrid_depthwise(model) == 2
    onnx.checker.check_model(model)
    assert _dilated_depthwise(model) == []
    dense = [n for n in model.graph.node if n.name == "dense3_r3"]
    assert len(dense) == 1, "a dense dilated convolution is left alone"
    names = {init.name for init in model.graph.initializer}
    assert "dw5_r6.weight" not in names, "the dilated weights are no longer stored"
    assert {"dw5_r6/subgrid/weight", "dw3_r3/subgrid/bias", "dense3_r3.weight"} <= names


@pytest.mark.parametrize(
    "shape",
    [(1, C, 12, 12), (2, C, 13, 17), (1, C, 40, 88), (2, C, 5, 31), (1, C, 1, 1)],
    ids=lambda s: "x".join(map(str, s)),
)
def test_rewritten_graph_matches_torch_at_any_size(shape) -> None:
    """Sizes that are and are not multiples of the rates 3 and 6, smaller than the kernel's
    reach, batch 2: the padded sub-grids must give the dilated convolution's output exactly."""
    weights = _weights()
    model = _graph(weights)
    subgrid_depthwise(model)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    expected = _torch_chain(x, weights)
    got = _run(model, x)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() <= 1e-5 * expected.abs().max()


def test_graph_counts_parameters_and_multiply_adds(tmp_path) -> None:
    weights = _weights()
    model = _graph(weights)
    expected_params = sum(w.size + (0 if b is None else b.size) for w, b in weights.values())
    assert graph_params(model) == expected_params
    path = tmp_path / "chain.onnx"
    onnx.save(model, str(path))
    per_pixel = sum(C * (C // groups) * k * k for _, k, _, groups, _ in LAYERS)
    assert graph_madds(path, 24) == 24 * 24 * per_pixel
    subgrid_depthwise(model)
    onnx.save(model, str(path))
    # Sub-grid convolutions count what they compute: 24 is a multiple of 3 and 6, no padding.
    assert graph_madds(path, 24) == 24 * 24 * per_pixel
