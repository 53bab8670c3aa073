"""Rewrites and counts on exported ONNX graphs: dilated depthwise convolutions on sub-grids.

ONNX Runtime's CPU provider runs a dilated depthwise convolution far slower than an undilated
one, as oneDNN does in PyTorch (`segnas.final.inference.SpaceToBatchConv2d`). The same
sub-grid rewrite is written here on the graph rather than in PyTorch before export: a
size-generic PyTorch version needs `H mod d` as a symbolic size, which `torch.export` cannot
keep dynamic (it specialises the file to the example's size), while ONNX computes it with
ordinary shape operators at run time. Each rate-d depthwise 'same' convolution becomes

    Pad (bottom/right to a multiple of d) -> SpaceToDepth(d) -> Conv(undilated, d*d*C groups)
    -> DepthToSpace(d, DCR) -> Slice (back to H x W)

SpaceToDepth puts sub-grid (i, j) of channel c at channel (i d + j) C + c, so the kernel is the
original one tiled d*d times (a `Tile` node on the stored weight, which ONNX Runtime folds into
a constant when it creates a session: the file keeps one copy). Zeros padded at the end are
what the original convolution's own zero padding read there, so the result is exact at every
size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

SHAPE_OPS_DTYPE = onnx.TensorProto.INT64


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def is_dilated_depthwise(node: onnx.NodeProto, channels: dict[str, int]) -> bool:
    """A stride-1 'same' Conv with one dilation > 1, one odd kernel and one group per channel.

    `channels` maps weight names to their output channels (the initializers' first dims).
    """
    if node.op_type != "Conv" or node.input[1] not in channels:
        return False
    a = _attrs(node)
    kernel, dilation = a.get("kernel_shape", []), a.get("dilations", [1, 1])
    if len(kernel) != 2 or kernel[0] != kernel[1] or kernel[0] % 2 == 0:
        return False
    d = dilation[0]
    same = list(a.get("pads", [])) == [d * (kernel[0] // 2)] * 4 and a.get("auto_pad", 0) in (
        0,
        b"NOTSET",
        "NOTSET",
    )
    return (
        d > 1
        and dilation[1] == d
        and list(a.get("strides", [1, 1])) == [1, 1]
        and same
        and a.get("group", 1) == channels[node.input[1]]
    )


def _const(name: str, values: list[int]) -> onnx.NodeProto:
    tensor = numpy_helper.from_array(np.array(values, dtype=np.int64), name)
    return helper.make_node("Constant", [], [name], value=tensor, name=name)


def _tiled(init: onnx.TensorProto, name: str, times: int) -> onnx.TensorProto:
    """`init` repeated `times` times along its first axis (SpaceToDepth's channel order)."""
    array = numpy_helper.to_array(init)
    return numpy_helper.from_array(np.tile(array, (times,) + (1,) * (array.ndim - 1)), name)


def _subgrid_nodes(
    node: onnx.NodeProto, prefix: str, inits: dict[str, onnx.TensorProto]
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """The nodes (and tiled weights) that compute `node`, a dilated depthwise Conv, on its d x d
    sub-grids."""
    a = _attrs(node)
    d, k = a["dilations"][0], a["kernel_shape"][0]
    x, weight = node.input[0], node.input[1]
    p = f"{prefix}/subgrid"
    nodes = [
        _const(f"{p}/d", [d]),
        _const(f"{p}/zeros", [0] * 6),
        _const(f"{p}/axes", [2, 3]),
        _const(f"{p}/starts", [0, 0]),
        helper.make_node("Shape", [x], [f"{p}/hw"], start=2, end=4),  # (H, W)
        helper.make_node("Mod", [f"{p}/hw", f"{p}/d"], [f"{p}/rem"]),
        helper.make_node("Sub", [f"{p}/d", f"{p}/rem"], [f"{p}/short"]),
        helper.make_node("Mod", [f"{p}/short", f"{p}/d"], [f"{p}/pad_hw"]),  # (-H mod d, ...)
        helper.make_node("Concat", [f"{p}/zeros", f"{p}/pad_hw"], [f"{p}/pads"], axis=0),
        helper.make_node("Pad", [x, f"{p}/pads"], [f"{p}/padded"], mode="constant"),
        helper.make_node("SpaceToDepth", [f"{p}/padded"], [f"{p}/sub"], blocksize=d),
    ]
    tiled = [_tiled(inits[weight], f"{p}/weight", d * d)]
    inputs = [f"{p}/sub", f"{p}/weight"]
    bias = node.input[2] if len(node.input) > 2 else ""
    if bias in inits:
        tiled.append(_tiled(inits[bias], f"{p}/bias", d * d))
        inputs.append(f"{p}/bias")
    elif bias:
        nodes.append(_const(f"{p}/bias_tiles", [d * d]))
        nodes.append(helper.make_node("Tile", [bias, f"{p}/bias_tiles"], [f"{p}/bias"]))
        inputs.append(f"{p}/bias")
    nodes += [
        helper.make_node(
            "Conv",
            inputs,
            [f"{p}/conv"],
            name=f"{p}/conv",
            group=a["group"] * d * d,
            kernel_shape=[k, k],
            pads=[k // 2] * 4,
            strides=[1, 1],
            dilations=[1, 1],
        ),
        helper.make_node("DepthToSpace", [f"{p}/conv"], [f"{p}/full"], blocksize=d, mode="DCR"),
        helper.make_node(
            "Slice",
            [f"{p}/full", f"{p}/starts", f"{p}/hw", f"{p}/axes"],
            list(node.output),
            name=f"{p}/crop",
        ),
    ]
    return nodes, tiled


def subgrid_depthwise(model: onnx.ModelProto) -> int:
    """Rewrite every dilated depthwise Conv of `model` in place to run on sub-grids; the count.

    Needs opset >= 13 (Slice, Pad and Tile with tensor inputs, `Shape` with start/end: 15).
    """
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    channels = {name: int(init.dims[0]) for name, init in inits.items() if init.dims}
    nodes: list[onnx.NodeProto] = []
    rewritten = 0
    for index, node in enumerate(graph.node):
        if is_dilated_depthwise(node, channels):
            new_nodes, tiled = _subgrid_nodes(node, node.name or f"conv_{index}", inits)
            nodes += new_nodes
            graph.initializer.extend(tiled)
            rewritten += 1
        else:
            nodes.append(node)
    graph.ClearField("node")
    graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    graph.ClearField("initializer")
    graph.initializer.extend(kept)
    return rewritten


def rewrite_file(path: Path) -> int:
    """`subgrid_depthwise` on the file at `path`, checked and written back; the count."""
    model = onnx.load(str(path))
    rewritten = subgrid_depthwise(model)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return rewritten


COUNTED_OPS = ("Conv", "Gemm")


def _counted_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    return [node for node in graph.node if node.op_type in COUNTED_OPS]


def graph_params(model: onnx.ModelProto) -> int:
    """Weights and biases stored for the graph's Conv and Gemm nodes, and batch norm's scales
    and shifts (not its running statistics): a model's parameters, folded or not."""
    inits = {init.name: init for init in model.graph.initializer}
    names = {name for node in _counted_nodes(model.graph) for name in node.input[1:]}
    names |= {
        name
        for node in model.graph.node
        if node.op_type == "BatchNormalization"
        for name in node.input[1:3]
    }
    return sum(int(np.prod(inits[name].dims)) for name in names if name in inits)


def _node_madds(node: onnx.NodeProto, shapes: dict[str, tuple[int, ...]]) -> int:
    """Multiply-adds of one Conv (output elements x inputs per output) or Gemm (M N K)."""
    if node.op_type == "Conv":
        out, weight = shapes[node.output[0]], shapes[node.input[1]]  # (N, Co, ...), (Co, Ci/g, ...)
        return int(np.prod(out) * np.prod(weight[1:]))
    a = shapes[node.input[0]]
    k = a[0] if _attrs(node).get("transA", 0) else a[-1]
    return int(np.prod(shapes[node.output[0]]) * k)


def graph_madds(path: Path, size: int) -> int:
    """Conv and Gemm multiply-adds of one (1, C, size, size) image through the file at `path`.

    Shapes come from running it once in ONNX Runtime with every counted node's tensors as extra
    outputs, so sizes computed inside the graph (padding, upsampling) are exact. Sub-grid
    convolutions count what they compute: their padded maps.
    """
    import onnxruntime

    model = onnx.load(str(path))
    graph = model.graph
    image = graph.input[0]
    elem = image.type.tensor_type.elem_type
    channels = image.type.tensor_type.shape.dim[1].dim_value or 3
    shapes = {init.name: tuple(init.dims) for init in graph.initializer}
    wanted = {name for node in _counted_nodes(graph) for name in (*node.input[:2], node.output[0])}
    known = shapes.keys() | {out.name for out in graph.output} | {image.name}
    extra = sorted(wanted - known)
    graph.output.extend(helper.make_tensor_value_info(name, elem, None) for name in extra)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    values = session.run(None, {image.name: np.zeros((1, channels, size, size), dtype)})
    names = [out.name for out in session.get_outputs()]
    shapes |= {name: value.shape for name, value in zip(names, values)}
    return sum(_node_madds(node, shapes) for node in _counted_nodes(graph))
