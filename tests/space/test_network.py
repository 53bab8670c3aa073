"""The one builder: every valid genotype builds, runs forward and backward, at the right stride."""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segnas.genotype import ARCH0, ARCH1, ARCH2, KNOWN_DESIGNS, parse, sample
from segnas.space.builder import DecoderSettings, build_network
from segnas.space.cell import Cell, live_nodes
from segnas.space.decoder import DecoderOutput
from segnas.space.ops import OPS
from tests.fixtures.encoders import TinyEncoder


def expected_stride(genotype, tap_strides=(4, 8, 16, 32)) -> int:
    strides = list(tap_strides)
    for a, b in genotype.connectivity:
        strides.append(min(strides[a], strides[b]))
    return min(strides[i] for i in genotype.head_inputs(len(tap_strides)))


@settings(max_examples=40)
@given(seed=st.integers(0, 2**32 - 1), aux_mode=st.sampled_from(["cell", "plain", "none"]))
def test_random_genotypes_build_forward_backward(seed: int, aux_mode: str) -> None:
    genotype = sample(random.Random(seed))
    torch.manual_seed(seed % 1000)
    net = build_network(genotype, 5, DecoderSettings(8, 1, aux_mode), encoder=TinyEncoder())
    x = torch.randn(2, 3, 64, 64)
    stride = expected_stride(genotype)
    out = net.train()(x)
    if aux_mode == "none":
        assert isinstance(out, torch.Tensor)
        main, aux = out, []
    else:
        assert isinstance(out, DecoderOutput)
        main, aux = out
        assert len(aux) == 3
        for k, a in enumerate(aux):
            block_stride = net.decoder.pool_strides[4 + k]
            assert a.shape == (2, 5, 64 // block_stride, 64 // block_stride)
    assert main.shape == (2, 5, 64 // stride, 64 // stride)
    assert net.output_stride == stride
    loss = main.square().mean() + sum(a.square().mean() for a in aux)
    loss.backward()
    grads = [p.grad for p in net.decoder.head.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    net.eval()
    with torch.no_grad():
        assert isinstance(net(x), torch.Tensor)


@pytest.mark.parametrize("name", sorted(KNOWN_DESIGNS))
def test_eval_output_is_independent_of_aux_heads(name: str) -> None:
    torch.manual_seed(0)
    net = build_network(
        KNOWN_DESIGNS[name], 4, DecoderSettings(8, 2, "cell"), encoder=TinyEncoder()
    )
    x = torch.randn(1, 3, 64, 64)
    slim = net.for_inference()
    assert len(slim.decoder.aux_heads) == 0
    assert not any("aux" in n for n, _ in slim.named_parameters())
    with torch.no_grad():
        assert torch.equal(net.eval()(x), slim(x))
    assert len(net.decoder.aux_heads) == 3  # the original keeps its heads


def test_cell_matches_a_hand_computation() -> None:
    # node1 = skip(x); branch0 = skip(node1) + skip(node0); loose ends: node 4 only (node 1 picked)
    genotype = parse([[[0, 0], [0, 0], [0, 0]], [9, [1, 0, 9, 9], [4, 4, 9, 10], [7, 0, 9, 10]]])
    cell = Cell(genotype, 3)
    x = torch.randn(1, 3, 4, 4)
    # node4 = 2x; node7 = node4 + 0 = 2x (picked); node10 = node7 + 0 = 2x -> output 2x
    assert torch.allclose(cell(x), 2 * x)
    assert set(cell.ops) == {"1", "2", "3", "5", "8"}  # zero ops (nodes 6, 9) are never built
    assert sum(p.numel() for p in cell.parameters()) == 0


def test_dead_ops_are_not_built() -> None:
    # node 2 feeds only a zero op; node 3 is the op whose output is cut by a later zero
    genotype = parse([[[0, 0], [0, 0], [0, 0]], [1, [0, 0, 1, 1], [2, 3, 10, 10], [0, 0, 0, 0]]])
    live = live_nodes(genotype)
    assert 7 in live and 5 not in live and 6 not in live
    cell = Cell(genotype, 4)
    assert set(cell.ops) == {"1", "2", "3", "8", "9"}


def test_ops_table_has_the_eleven_operations() -> None:
    assert len(OPS) == 11
    x = torch.randn(2, 8, 9, 9)
    for name, factory in OPS.items():
        y = factory(8, 2)(x)
        assert y.shape == x.shape, name


@pytest.mark.parametrize("genotype, stride", [(ARCH0, 4), (ARCH1, 8), (ARCH2, 8)])
def test_known_designs_output_stride(genotype, stride, tiny_encoder) -> None:
    net = build_network(genotype, 3, DecoderSettings(8, 1, "none"), encoder=tiny_encoder)
    assert net.eval()(torch.randn(1, 3, 96, 128)).shape == (1, 3, 96 // stride, 128 // stride)


def test_non_divisible_input_sizes_still_align(tiny_encoder) -> None:
    net = build_network(ARCH0, 3, DecoderSettings(8, 1, "cell"), encoder=tiny_encoder)
    out = net.train()(torch.randn(2, 3, 100, 76))
    assert out.out.shape[:2] == (2, 3)


@pytest.mark.parametrize("size", [1, 2, 5, 8, 13, 40])
@pytest.mark.parametrize(
    "kernel, dilation, groups",
    [(3, 3, 1), (3, 12, 1), (5, 6, 8), (3, 3, 8), (5, 1, 8), (3, 1, 8), (5, 2, 8)],
)
def test_shape_aware_conv_equals_the_plain_one(size, kernel, dilation, groups) -> None:
    """Every route (trimmed taps, matrix products, sub-grids) gives nn.Conv2d's values."""
    from torch.nn import functional as F

    from segnas.space.ops import ShapeAwareConv2d

    torch.manual_seed(size)
    conv = ShapeAwareConv2d(
        8, 8, kernel, padding=dilation * (kernel // 2), dilation=dilation, groups=groups, bias=False
    )
    x = torch.randn(2, 8, size, size + 1, requires_grad=True)
    full = F.conv2d(x, conv.weight, None, 1, conv.padding, conv.dilation, groups)
    trimmed = conv(x)
    assert torch.allclose(trimmed, full, atol=1e-5)
    g_full = torch.autograd.grad(full.square().sum(), [conv.weight, x])
    g_trim = torch.autograd.grad(conv(x).square().sum(), [conv.weight, x])
    for ours, reference in zip(g_trim, g_full):
        assert torch.allclose(ours, reference, atol=1e-4)


@pytest.mark.parametrize(
    ("kernel", "dilation", "size", "routes"),
    [
        (5, 6, 8, ["matmul 8x8"]),  # small map: 3x3 taps left, 64 <= 12 x 9
        (5, 6, 32, ["matmul 6x6"]),  # sub-grids 6x6 (32 padded to 36), 25 taps
        (3, 3, 16, ["conv 6x6"]),  # sub-grids; oneDNN's 3x3 depthwise is fast
        (5, 1, 8, ["matmul 8x8"]),  # undilated 5x5 on a small map
        (5, 1, 16, ["conv 16x16"]),
        (3, 1, 4, ["conv 4x4"]),
    ],
)
def test_depthwise_convs_route_by_map_size(monkeypatch, kernel, dilation, size, routes) -> None:
    from torch.nn import functional as F

    from segnas.space import ops

    seen = []
    real_conv2d = F.conv2d

    def matmul(x, *rest):
        seen.append(f"matmul {x.shape[-2]}x{x.shape[-1]}")
        return torch.zeros_like(x)

    def conv2d(x, *args):
        seen.append(f"conv {x.shape[-2]}x{x.shape[-1]}")
        return real_conv2d(x, *args)

    monkeypatch.setattr(ops, "depthwise_as_matmul", matmul)
    monkeypatch.setattr(ops.F, "conv2d", conv2d)
    conv = ops.ShapeAwareConv2d(
        4, 4, kernel, padding=dilation * (kernel // 2), dilation=dilation, groups=4
    )
    conv(torch.randn(2, 4, size, size))
    assert seen == routes


def test_matmul_route_trains_after_a_call_in_inference_mode() -> None:
    from torch.nn import functional as F

    from segnas.space import ops

    conv = ops.ShapeAwareConv2d(4, 4, 5, padding=12, dilation=6, groups=4, bias=True)
    x = torch.randn(2, 4, 8, 8)
    reference = F.conv2d(x, conv.weight, conv.bias, 1, 12, 6, 4)
    with torch.inference_mode():  # the cached tap matrices must still serve training later
        conv(torch.randn(1, 4, 7, 7))
    assert torch.allclose(conv(x), reference, atol=1e-5)
    conv(torch.randn(1, 4, 7, 7)).sum().backward()
    assert conv.weight.grad is not None
