"""Search strategies behind one interface: the PPO-trained controller and random search.

A strategy proposes a genotype, is told its reward, and can be checkpointed. Its state holds
tensors and plain Python data only (loadable with `torch.load(weights_only=True)`) and every
random state it draws from, so a search restored from a checkpoint proposes exactly what the
uninterrupted search would have.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import torch
from torch import nn

from segnas.genotype import Genotype, SearchSpace, sample
from segnas.search.controller import Controller, ControllerSettings
from segnas.settings_io import require

if TYPE_CHECKING:
    from segnas.search.evolution import EvolutionSettings


@dataclass(frozen=True)
class Proposal:
    """A design to evaluate, as the strategy drew it."""

    genotype: Genotype
    """The design."""
    tokens: list[int]
    """`genotype.tokens()`, the controller's view of it."""
    log_prob: float | None
    """Log-probability under the policy that drew it (PPO's old log-prob); None for random."""


class Strategy(Protocol):
    """What the search loop needs from a strategy."""

    def propose(self) -> Proposal: ...

    def observe(self, proposal: Proposal, reward: float) -> None: ...

    def stats(self) -> dict[str, Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def python_rng_state(rng: random.Random) -> list[Any]:
    """`rng.getstate()` as plain lists, which `torch.load(weights_only=True)` accepts."""
    version, internal, gauss_next = rng.getstate()
    return [version, list(internal), gauss_next]


def set_python_rng_state(rng: random.Random, state: list[Any]) -> None:
    """Inverse of `python_rng_state`."""
    version, internal, gauss_next = state
    rng.setstate((version, tuple(internal), gauss_next))


def _check_reward(reward: float) -> float:
    if not math.isfinite(reward):
        raise ValueError(f"reward: got {reward}, expected a finite number (failures score 0)")
    return float(reward)


def _check_state(state: dict[str, Any], kind: str, space: SearchSpace) -> None:
    if state.get("kind") != kind:
        raise ValueError(f"strategy state: holds {state.get('kind')!r}, expected {kind!r}")
    if state.get("space") != asdict(space):
        raise ValueError(f"strategy state: saved for space {state.get('space')}, not {space}")


class RandomStrategy:
    """Uniform over all encodings of `space`; the baseline the controller must beat."""

    def __init__(self, space: SearchSpace, seed: int) -> None:
        self.space = space
        self.rng = random.Random(seed)
        self.observed = 0
        # Entropy of the uniform policy over encodings, reported for comparison with PPO's.
        self.entropy = sum(math.log(r) for r in space.token_ranges())

    def propose(self) -> Proposal:
        genotype = sample(self.rng, self.space)
        return Proposal(genotype, genotype.tokens(), None)

    def observe(self, proposal: Proposal, reward: float) -> None:
        _check_reward(reward)
        self.observed += 1

    def stats(self) -> dict[str, Any]:
        return {
            "observed": self.observed,
            "baseline": None,
            "last_loss": None,
            "updates": 0,
            "mean_entropy": self.entropy,
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": "random",
            "space": asdict(self.space),
            "rng": python_rng_state(self.rng),
            "observed": self.observed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_state(state, "random", self.space)
        set_python_rng_state(self.rng, state["rng"])
        self.observed = state["observed"]


@dataclass(frozen=True)
class PPOSettings:
    """How the controller is trained. Paper: PPO with Adam at lr 1e-4 (preset `paper`).

    At lr 1e-4 with raw advantages (rewards differ by a few hundredths) a 100-candidate search
    leaves the policy almost uniform. The defaults standardise advantages and take larger
    steps; they were chosen on a noisy synthetic reward (README, "Search strategies"), not on
    the seeds the strategies are compared on, and cost a few milliseconds per candidate.
    """

    lr: float = 5e-3
    """Adam learning rate (paper: 0.0001)."""
    normalize_advantages: bool = True
    """Standardise the buffer's advantages (zero mean, unit sd) before each update, so the
    step size does not depend on how far apart rewards happen to be."""
    clip: float = 0.2
    """PPO ratio clip: the new/old probability ratio counts only within [1 - clip, 1 + clip]."""
    baseline_decay: float = 0.95
    """Moving-average baseline b <- decay * b + (1 - decay) * reward, after each advantage.

    b starts at the first reward (as in the authors' code), so the first sample's advantage is 0.
    """
    buffer_size: int = 32
    """Most recent (tokens, old log-prob, advantage) samples kept and trained on."""
    minibatch_size: int = 16
    """Samples per optimiser step (a full buffer gives buffer_size / minibatch_size steps)."""
    update_epochs: int = 2
    """Passes over the buffer per update. Each sample stays for `buffer_size` updates anyway."""
    entropy_weight: float = 1e-4
    """Bonus on the policy's entropy in the loss; keeps it exploring (ENAS uses 1e-4)."""
    update_every: int = 1
    """Run an update after this many observed rewards (1: after every candidate)."""
    max_grad_norm: float | None = 2.0
    """Clip the controller's gradient norm to this (the authors' code: 2.0); None: no clip."""
    controller: ControllerSettings = field(default_factory=ControllerSettings)
    """The controller's shape and sampling settings."""

    def __post_init__(self) -> None:
        require(self.lr > 0, "lr", self.lr, "> 0")
        require(0 < self.clip < 1, "clip", self.clip, "in (0, 1)")
        require(0 <= self.baseline_decay < 1, "baseline_decay", self.baseline_decay, "in [0, 1)")
        for name in ("buffer_size", "minibatch_size", "update_epochs", "update_every"):
            require(getattr(self, name) >= 1, name, getattr(self, name), ">= 1")
        require(self.entropy_weight >= 0, "entropy_weight", self.entropy_weight, ">= 0")
        norm = self.max_grad_norm
        require(norm is None or norm > 0, "max_grad_norm", norm, "> 0 or None")


class PPOStrategy:
    """The LSTM controller trained with clipped-ratio PPO on a buffer of recent samples.

    One torch generator, seeded from `seed`, draws the initial weights, the proposals and the
    minibatch order; it is the only random state.
    """

    def __init__(self, space: SearchSpace, config: PPOSettings, seed: int) -> None:
        self.space = space
        self.config = config
        self.generator = torch.Generator().manual_seed(seed)
        self.controller = Controller(space, config.controller, self.generator)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=config.lr)
        self.baseline: float | None = None
        self.buffer_tokens: list[list[int]] = []
        self.buffer_log_probs: list[float] = []
        self.buffer_advantages: list[float] = []
        self.observed = 0
        self.updates = 0
        self.last_loss: float | None = None
        self.mean_entropy: float | None = None

    def propose(self) -> Proposal:
        tokens, log_prob, _ = self.controller.sample(self.generator)
        return Proposal(Genotype.from_tokens(tokens, self.space), tokens, log_prob)

    def observe(self, proposal: Proposal, reward: float) -> None:
        """Store the sample with advantage = reward - baseline, move the baseline, maybe update."""
        reward = _check_reward(reward)
        log_prob = proposal.log_prob
        if log_prob is None:  # drawn elsewhere (e.g. a known design): score it under this policy
            with torch.no_grad():
                log_prob = float(self.controller.evaluate(torch.tensor([proposal.tokens]))[0][0])
        if self.baseline is None:
            self.baseline = reward
        self.buffer_tokens.append(list(proposal.tokens))
        self.buffer_log_probs.append(log_prob)
        self.buffer_advantages.append(reward - self.baseline)
        del self.buffer_tokens[: -self.config.buffer_size]
        del self.buffer_log_probs[: -self.config.buffer_size]
        del self.buffer_advantages[: -self.config.buffer_size]
        decay = self.config.baseline_decay
        self.baseline = decay * self.baseline + (1 - decay) * reward
        self.observed += 1
        if self.observed % self.config.update_every == 0:
            self._update()

    def _update(self) -> None:
        """Clipped-ratio PPO over minibatches of the buffer."""
        cfg = self.config
        tokens = torch.tensor(self.buffer_tokens)  # (B, T)
        old_log_probs = torch.tensor(self.buffer_log_probs)  # (B,)
        advantages = torch.tensor(self.buffer_advantages)  # (B,)
        if cfg.normalize_advantages and len(advantages) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        losses, entropies = [], []
        for _ in range(cfg.update_epochs):
            order = torch.randperm(len(tokens), generator=self.generator)
            for batch in order.split(cfg.minibatch_size):
                log_probs, entropy = self.controller.evaluate(tokens[batch])  # (b,), (b,)
                ratio = torch.exp(log_probs - old_log_probs[batch])
                clipped = ratio.clamp(1 - cfg.clip, 1 + cfg.clip)
                surrogate = torch.min(ratio * advantages[batch], clipped * advantages[batch])
                loss = -surrogate.mean() - cfg.entropy_weight * entropy.mean()
                self.optimizer.zero_grad()
                loss.backward()
                if cfg.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(self.controller.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                losses.append(float(loss.detach()))
                entropies.append(float(entropy.detach().mean()))
        self.updates += 1
        self.last_loss = sum(losses) / len(losses)
        self.mean_entropy = sum(entropies) / len(entropies)

    def stats(self) -> dict[str, Any]:
        """For progress display; mean_entropy is the policy's, over the last update's batches."""
        return {
            "observed": self.observed,
            "baseline": self.baseline,
            "last_loss": self.last_loss,
            "updates": self.updates,
            "mean_entropy": self.mean_entropy,
        }

    def state_dict(self) -> dict[str, Any]:
        """A snapshot: later training does not change it."""
        return {
            "kind": "ppo",
            "space": asdict(self.space),
            "controller": {k: v.detach().clone() for k, v in self.controller.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "generator": self.generator.get_state(),
            "baseline": self.baseline,
            "buffer": {
                "tokens": [list(t) for t in self.buffer_tokens],
                "log_probs": list(self.buffer_log_probs),
                "advantages": list(self.buffer_advantages),
            },
            "observed": self.observed,
            "updates": self.updates,
            "last_loss": self.last_loss,
            "mean_entropy": self.mean_entropy,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_state(state, "ppo", self.space)
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.baseline = state["baseline"]
        self.buffer_tokens = [list(t) for t in state["buffer"]["tokens"]]
        self.buffer_log_probs = list(state["buffer"]["log_probs"])
        self.buffer_advantages = list(state["buffer"]["advantages"])
        self.observed = state["observed"]
        self.updates = state["updates"]
        self.last_loss = state["last_loss"]
        self.mean_entropy = state["mean_entropy"]


def make_strategy(
    name: Literal["ppo", "random", "evolution"],
    space: SearchSpace,
    seed: int,
    ppo: PPOSettings | None = None,
    *,
    evolution: EvolutionSettings | None = None,
) -> Strategy:
    """The named strategy; `ppo` and `evolution` configure theirs (defaults when None)."""
    if name == "ppo":
        return PPOStrategy(space, ppo or PPOSettings(), seed)
    if name == "random":
        return RandomStrategy(space, seed)
    if name == "evolution":
        from segnas.search.evolution import EvolutionSettings, EvolutionStrategy  # it imports us

        return EvolutionStrategy(space, evolution or EvolutionSettings(), seed)
    raise ValueError(f"strategy: got {name!r}, expected 'ppo', 'random' or 'evolution'")
