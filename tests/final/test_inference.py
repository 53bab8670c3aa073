"""The deployable runtime model: exact rewrites of the eval network, no auxiliary heads."""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from segnas.final.inference import (
    InferenceNet,
    PlainNet,
    SpaceToBatchConv2d,
    fold_batch_norms,
    replace_slow_dilated,
)
from segnas.genotype import KNOWN_DESIGNS, sample
from segnas.space.builder import DecoderSettings, build_network
from segnas.space.cost import measure_cost
from segnas.space.decoder import AuxHead

SMALL = DecoderSettings(channels=8, repeats=2, aux_mode="cell")


def _randomised(genotype, seed: int = 0) -> nn.Module:
    """A network with random batch-norm statistics and affines, so folding has work to do."""
    torch.manual_seed(seed)
    net = build_network(genotype, 5, SMALL, weights=None)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


def _assert_same(net: nn.Module, size: tuple[int, int]) -> None:
    x = torch.randn(2, 3, *size)
    with torch.inference_mode():
        expected = PlainNet(net)(x)
        got = InferenceNet(net)(x)
    assert got.shape == expected.shape == (2, 5, *size)
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(KNOWN_DESIGNS))
def test_known_designs_match_the_plain_eval_network(name: str) -> None:
    _assert_same(_randomised(KNOWN_DESIGNS[name]), (72, 60))  # 60 is no multiple of 6 or 12


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**16), height=st.integers(33, 80), width=st.integers(33, 80))
def test_random_designs_match_the_plain_eval_network(seed: int, height: int, width: int) -> None:
    genotype = sample(random.Random(seed))
    _assert_same(_randomised(genotype, seed), (height, width))


def test_runtime_model_has_no_aux_heads_and_counts_the_described_parameters() -> None:
    net = _randomised(KNOWN_DESIGNS["arch1"])
    runtime = InferenceNet(net)
    assert not any(isinstance(m, AuxHead) for m in runtime.modules())
    assert any(isinstance(m, AuxHead) for m in net.modules()), "the source keeps its heads"
    assert not any(isinstance(m, nn.BatchNorm2d) for m in runtime.modules())
    assert runtime.folded > 0
    described = measure_cost(net.for_inference(), (64, 64)).params
    assert runtime.source_params == described
    assert PlainNet(net).source_params == described


def test_folding_needs_eval_mode() -> None:
    net = build_network(KNOWN_DESIGNS["arch2"], 3, SMALL, weights=None).train()
    with pytest.raises(ValueError, match="training mode"):
        fold_batch_norms(net)


def test_space_to_batch_equals_the_dilated_convolution() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 6, 5, padding=12, dilation=6, groups=6, bias=True).eval()
    holder = nn.Sequential(conv)
    assert replace_slow_dilated(holder) == 1
    assert isinstance(holder[0], SpaceToBatchConv2d)
    for layout in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(2, 6, 23, 30).contiguous(memory_format=layout)
        assert torch.allclose(holder[0](x), conv(x), atol=1e-5)
    with pytest.raises(ValueError, match="stride-1 'same'"):
        SpaceToBatchConv2d.from_conv(nn.Conv2d(6, 6, 5, stride=2, padding=12, dilation=6))
