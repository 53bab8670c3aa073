"""One way to the logits: `split_output` / `main_logits` for every kind of network output."""

from __future__ import annotations

import pytest
import torch

from segnas.genotype import ARCH1
from segnas.space import main_logits, split_output
from segnas.space.builder import DecoderSettings, build_network
from tests.fixtures.encoders import TinyEncoder


@pytest.fixture
def net():
    torch.manual_seed(0)
    return build_network(ARCH1, 4, DecoderSettings(8, 1, "cell"), encoder=TinyEncoder())


def test_training_output_splits_into_main_and_one_map_per_block(net) -> None:
    x = torch.randn(2, 3, 64, 64)
    main, aux = split_output(net.train()(x))
    assert main.shape == (2, 4, 64 // net.output_stride, 64 // net.output_stride)
    assert len(aux) == 3 and all(a.shape[:2] == (2, 4) for a in aux)
    assert main_logits(net.train()(x)).shape == main.shape


def test_eval_output_is_its_own_main_logits(net) -> None:
    with torch.no_grad():
        out = net.eval()(torch.randn(1, 3, 64, 64))
    assert isinstance(out, torch.Tensor)
    main, aux = split_output(out)
    assert main is out and aux == []
    assert main_logits(out) is out


def test_torchvision_dicts_and_tuples() -> None:
    out, aux = torch.zeros(1, 2, 4, 4), torch.ones(1, 2, 4, 4)
    assert main_logits({"out": out}) is out
    main, rest = split_output({"out": out, "aux": aux})
    assert main is out and len(rest) == 1 and rest[0] is aux
    main, rest = split_output((out, aux))
    assert main is out and len(rest) == 1 and rest[0] is aux


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ({"logits": torch.zeros(1)}, r"a dict without 'out' \(keys \['logits'\]\)"),
        ("logits", "got str, expected a tensor, a DecoderOutput"),
        ((), "got tuple, expected"),
    ],
)
def test_other_outputs_are_refused_naming_what_came(output, message) -> None:
    with pytest.raises(TypeError, match=message):
        main_logits(output)
