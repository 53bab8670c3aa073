"""The controller: token ranges, parsing, sample/evaluate agreement, feedback, initialisation."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from segnas.genotype import DEFAULT_SPACE, Genotype, SearchSpace
from segnas.search.controller import Controller, ControllerSettings

spaces = st.builds(
    SearchSpace,
    num_taps=st.integers(1, 5),
    num_blocks=st.integers(1, 4),
    num_branches=st.integers(1, 4),
    num_ops=st.integers(1, 11),
)
SMALL = ControllerSettings(hidden=16, embedding=8)


@settings(max_examples=25)
@given(space=spaces, seed=st.integers(0, 2**31 - 1))
def test_samples_respect_ranges_and_parse(space: SearchSpace, seed: int) -> None:
    controller = Controller(space, SMALL, torch.Generator().manual_seed(seed))
    generator = torch.Generator().manual_seed(seed)
    for _ in range(3):
        tokens, log_prob, entropy = controller.sample(generator)
        assert len(tokens) == len(space.token_ranges())
        assert all(0 <= t < r for t, r in zip(tokens, space.token_ranges()))
        assert Genotype.from_tokens(tokens, space).tokens() == tokens
        assert log_prob <= 0 and entropy >= 0


@settings(max_examples=10)
@given(space=spaces)
def test_output_layers_sized_to_token_ranges(space: SearchSpace) -> None:
    controller = Controller(space, SMALL)
    ranges = space.token_ranges()
    assert [head.out_features for head in controller.heads] == ranges
    assert [embed.num_embeddings for embed in controller.embeddings] == ranges[:-1]


def test_evaluate_agrees_with_sample() -> None:
    controller = Controller()
    generator = torch.Generator().manual_seed(3)
    samples = [controller.sample(generator) for _ in range(5)]
    log_prob, entropy = controller.evaluate(torch.tensor([s[0] for s in samples]))
    assert log_prob.shape == entropy.shape == (5,)
    torch.testing.assert_close(log_prob, torch.tensor([s[1] for s in samples]))
    torch.testing.assert_close(entropy, torch.tensor([s[2] for s in samples]))


def test_sample_is_deterministic_given_the_generator() -> None:
    a, b = Controller(), Controller()
    ga, gb = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert [a.sample(ga) for _ in range(4)] == [b.sample(gb) for _ in range(4)]


def test_building_a_controller_leaves_the_global_generator_alone() -> None:
    before = torch.random.get_rng_state()
    Controller()
    assert torch.equal(before, torch.random.get_rng_state())


def test_earlier_tokens_change_later_distributions() -> None:
    """The sampled token is fed back, so the policy is not a product of independent choices.

    Were it one, the log-probability would be a sum of per-position terms, and changing token 0
    would shift it by the same amount whatever the later tokens are.
    """
    controller = Controller()
    tokens = torch.zeros(4, len(DEFAULT_SPACE.token_ranges()), dtype=torch.long)  # (4, T)
    tokens[1::2, 0] = 1  # rows 0, 1 differ in token 0 only; so do rows 2, 3
    tokens[2:, 1:] = 1  # rows 2, 3 differ from rows 0, 1 in every later token
    with torch.no_grad():
        log_prob, _ = controller.evaluate(tokens)
    shift_a, shift_b = log_prob[1] - log_prob[0], log_prob[3] - log_prob[2]
    assert abs(float(shift_a - shift_b)) > 1e-4


def test_every_weight_starts_in_the_init_range() -> None:
    controller = Controller(config=ControllerSettings(init_range=0.1))
    values = torch.cat([p.detach().flatten() for p in controller.parameters()])
    assert values.abs().max() <= 0.1
    assert values.abs().max() > 0.09  # uniform over the whole range, not a narrower default
    assert controller.lstm.num_layers == 2 and controller.lstm.hidden_size == 100


def test_temperature_and_tanh_clip_shape_the_logits() -> None:
    base = Controller()
    hot = Controller(config=ControllerSettings(temperature=5.0))
    clipped = Controller(config=ControllerSettings(tanh_clip=0.01))
    tokens = torch.zeros(1, len(DEFAULT_SPACE.token_ranges()), dtype=torch.long)
    entropies = [c.evaluate(tokens)[1] for c in (base, hot, clipped)]
    assert entropies[1] > entropies[0]
    uniform = sum(torch.log(torch.tensor(DEFAULT_SPACE.token_ranges(), dtype=torch.float)))
    torch.testing.assert_close(entropies[2][0], uniform, atol=1e-3, rtol=0)


def test_evaluate_rejects_tokens_out_of_range() -> None:
    controller = Controller()
    tokens = torch.zeros(1, len(DEFAULT_SPACE.token_ranges()), dtype=torch.long)
    tokens[0, 6] = DEFAULT_SPACE.num_ops
    with pytest.raises(ValueError, match="position 6"):
        controller.evaluate(tokens)


def test_evaluate_backpropagates_to_every_weight() -> None:
    controller = Controller()
    generator = torch.Generator().manual_seed(0)
    tokens = torch.tensor([controller.sample(generator)[0] for _ in range(4)])
    log_prob, entropy = controller.evaluate(tokens)
    (log_prob.sum() + entropy.sum()).backward()
    for name, parameter in controller.named_parameters():
        if name.startswith("embeddings"):  # only the rows of the tokens seen get gradient
            continue
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="init_range"):
        Controller(config=ControllerSettings(init_range=0))
