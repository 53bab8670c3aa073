"""The RNN controller: an LSTM policy that emits a genotype one token at a time.

Token t is chosen by its own output layer, sized to `SearchSpace.token_ranges()[t]`, and the
token actually sampled is embedded and fed back as the next input, so every decision depends on
the earlier ones (the authors' code feeds nothing back, which makes its policy a product of
independent choices). `sample` draws one sequence step by step; `evaluate` scores a batch of
known sequences in a single LSTM pass (teacher forcing), which is what the PPO update needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segnas.genotype import DEFAULT_SPACE, SearchSpace
from segnas.settings_io import require


@dataclass(frozen=True)
class ControllerSettings:
    """Shape and sampling settings of the controller. Defaults are the paper's where it says."""

    hidden: int = 100
    """LSTM hidden units per layer (paper: 100)."""
    layers: int = 2
    """Stacked LSTM layers (paper: 2)."""
    init_range: float = 0.1
    """Every weight, embeddings and start vector included, starts uniform in [-r, r]."""
    embedding: int = 100
    """Size of the token embeddings fed to the LSTM (the LSTM's input size)."""
    temperature: float | None = None
    """Logits are divided by this before the softmax; None leaves them as they are."""
    tanh_clip: float | None = None
    """If set to c, logits become c * tanh(logits), bounded to (-c, c); None: no clip.

    Applied after the temperature, as in ENAS; it keeps the policy from collapsing too early.
    """

    def __post_init__(self) -> None:
        for name in ("hidden", "layers", "embedding"):
            require(getattr(self, name) >= 1, name, getattr(self, name), ">= 1")
        require(self.init_range > 0, "init_range", self.init_range, "> 0")
        for name in ("temperature", "tanh_clip"):
            value = getattr(self, name)
            require(value is None or value > 0, name, value, "> 0 or None")


class Controller(nn.Module):
    """LSTM policy over the token sequence of `space`.

    Weights are drawn from `generator` (a fresh one seeded 0 when omitted), never from torch's
    global generator, so building a controller changes no other random stream.
    """

    def __init__(
        self,
        space: SearchSpace = DEFAULT_SPACE,
        config: ControllerSettings | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.space = space
        self.config = config = config or ControllerSettings()
        self.ranges = space.token_ranges()
        # Built on the meta device (no memory, no random draws), then allocated and initialised
        # below from `generator` alone.
        meta = torch.device("meta")
        self.start = nn.Parameter(torch.empty(config.embedding, device=meta))
        # Input for step t >= 1 is the token chosen at step t - 1, hence sized to its range.
        self.embeddings = nn.ModuleList(
            nn.Embedding(r, config.embedding, device=meta) for r in self.ranges[:-1]
        )
        self.lstm = nn.LSTM(config.embedding, config.hidden, config.layers, device=meta)
        self.heads = nn.ModuleList(nn.Linear(config.hidden, r, device=meta) for r in self.ranges)
        self.to_empty(device="cpu")
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        with torch.no_grad():
            for parameter in self.parameters():
                nn.init.uniform_(parameter, -config.init_range, config.init_range, generator)

    def _log_probs(self, position: int, hidden: Tensor) -> Tensor:
        """Log-probabilities of token `position` from the top LSTM output (..., H) -> (..., R)."""
        logits = self.heads[position](hidden)
        if self.config.temperature is not None:
            logits = logits / self.config.temperature
        if self.config.tanh_clip is not None:
            logits = self.config.tanh_clip * torch.tanh(logits)
        return F.log_softmax(logits, dim=-1)

    @torch.no_grad()
    def sample(self, generator: torch.Generator) -> tuple[list[int], float, float]:
        """One token sequence, its log-probability and the summed entropy of its decisions.

        Draws only from `generator`, so equal generator states give equal sequences.
        """
        tokens: list[int] = []
        log_prob, entropy = 0.0, 0.0
        x = self.start.view(1, 1, -1)  # (T=1, N=1, E)
        state = None
        for position in range(len(self.ranges)):
            out, state = self.lstm(x, state)  # (1, 1, H)
            log_p = self._log_probs(position, out[0, 0])  # (R,)
            token = int(torch.multinomial(log_p.exp(), 1, generator=generator))
            tokens.append(token)
            log_prob += float(log_p[token])
            entropy -= float((log_p.exp() * log_p).sum())
            if position + 1 < len(self.ranges):
                x = self.embeddings[position](torch.tensor([[token]]))  # (1, 1, E)
        return tokens, log_prob, entropy

    def evaluate(self, tokens: Tensor) -> tuple[Tensor, Tensor]:
        """Log-probability and summed entropy of each given sequence, with gradients.

        tokens: (N, T) long. Returns two (N,) tensors. Teacher forcing: step t's input is the
        given token t - 1, exactly what `sample` fed back, so the figures agree with it.
        """
        n, length = tokens.shape
        if length != len(self.ranges):
            raise ValueError(f"tokens: got {length} per sequence, expected {len(self.ranges)}")
        ranges = torch.tensor(self.ranges)
        if bool((tokens < 0).any()) or bool((tokens >= ranges).any()):
            bad = int(((tokens < 0) | (tokens >= ranges)).any(0).nonzero()[0])
            raise ValueError(f"tokens: position {bad} outside [0, {self.ranges[bad]})")
        inputs = [self.start.expand(n, -1)]  # (N, E) each
        inputs += [embed(tokens[:, t]) for t, embed in enumerate(self.embeddings)]
        out, _ = self.lstm(torch.stack(inputs))  # (T, N, H)
        log_prob = out.new_zeros(n)
        entropy = out.new_zeros(n)
        for position in range(length):
            log_p = self._log_probs(position, out[position])  # (N, R)
            log_prob = log_prob + log_p.gather(1, tokens[:, position : position + 1]).squeeze(1)
            entropy = entropy - (log_p.exp() * log_p).sum(-1)
        return log_prob, entropy
