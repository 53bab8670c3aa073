"""Settings of a search run; written resolved as `config.yaml` in the run directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from segnas.search.early_stop import TerminationSettings
from segnas.search.evolution import EvolutionSettings
from segnas.search.latency import LatencySettings
from segnas.search.objective import ObjectiveSettings
from segnas.search.strategies import PPOSettings
from segnas.settings_io import require
from segnas.tasks.depth import DepthSettings
from segnas.tasks.pose import PoseChoices
from segnas.train.settings import CandidateSettings
from segnas.train.teacher import TeacherSettings


@dataclass(frozen=True)
class SearchSettings:
    """One architecture search. Defaults give `make search`: minutes on two CPU cores."""

    data: str = "builtin"
    """Dataset spec (`builtin`, `voc:PATH`, `folder:PATH`, ...)."""
    classes: int | None = None
    """Number of classes, for formats that do not define them."""
    task: Literal["segmentation", "depth", "pose"] = "segmentation"
    """What the designs predict (`--task`): class ids, or depth with the `depth` options."""
    depth: DepthSettings = field(default_factory=DepthSettings)
    """The depth task's options (reward, missing-depth value, scale), when `task` is depth."""
    pose: PoseChoices = field(default_factory=PoseChoices)
    """The pose task's reward (`pose.reward=pckh|oks`) and PCKh threshold, when `task` is pose."""
    budget: int = 24
    """Candidates to evaluate (at most, with a time budget)."""
    time_budget: float | None = None
    """Wall-clock seconds for the whole run, re-scoring included (`--time-budget 2h`): a
    generation starts only if it is expected to finish in time; None: no limit. A resume may
    raise it (then the run goes on) without --override."""
    strategy: Literal["ppo", "random", "evolution"] = "evolution"
    """How candidates are proposed: regularised evolution (the default: it beat random search
    and PPO in `segnas experiment strategies`, README), the PPO-trained LSTM controller of the
    paper, or uniform random designs."""
    executor: Literal["local", "ray"] = "local"
    """Where candidates run: on this machine (in worker processes when `workers` > 1), or as
    Ray tasks."""
    workers: int | None = None
    """Candidates run at once on this machine; None: as many as the cores allow at
    `threads_per_worker` each (on a GPU: one). Changes speed only, never the results."""
    threads_per_worker: int | None = None
    """Intra-op threads per candidate; None: 1 on the CPU when `workers` is None (no slower
    than more threads per candidate when quiet, much faster under load: README), else the
    cores shared among the workers. Also the CPUs of each Ray task."""
    generation: int | None = None
    """Candidates proposed before their rewards are fed back, in index order; parallel
    executors run a generation at once. The run depends on this, never on the worker count.
    None: 1 with one worker, else twice the workers when the run starts (a generation waits
    for its slowest candidate), recorded in config.yaml; pass it to reproduce a run on a
    machine with another core count."""
    reuse: bool = True
    """A design equal to one the run already scored (symmetric duplicates merged) copies its
    result instead of training again (`--no-reuse`: train every proposal)."""
    ray_address: str | None = None
    """Address of an existing Ray cluster; none starts a local one."""
    seed: int = 0
    """The run's one seed: of the split, the views, the strategy, the coins and every
    candidate's initialisation and batch order (`--seed`)."""
    val_fraction: float = 0.1
    """Share of the training set held out as meta-val."""
    train_count: int | None = 300
    """Meta-train images used per candidate (none: all)."""
    val_count: int | None = 100
    """Meta-val images used per candidate (none: all)."""
    encoder: str = "mobilenet_v2"
    """Encoder from the registry."""
    encoder_weights: str = "imagenet"
    """imagenet, none, or a state-dict file."""
    teacher: str = "auto"
    """auto (train and cache the default teacher), none, a segnas model file, or
    torchvision:NAME:FILE."""
    skip_bad_samples: bool = False
    """Leave out samples `segnas data check` flags instead of refusing the dataset."""
    rescore_top: int = 3
    """After the budget, train this many leading designs again with fresh evaluation seeds and
    name the best by their mean (`rescore.json`); 0: name the best single draw."""
    rescore_seeds: int = 1
    """Fresh evaluation seeds per re-scored design."""
    max_consecutive_failures: int | None = 5
    """Stop the search with an error after this many failed candidates in a row (their
    reasons printed); the run resumes once the cause is fixed. None: never stop."""
    objective: ObjectiveSettings = field(default_factory=ObjectiveSettings)
    """What the search maximises: the accuracy reward, or that traded against deployed
    latency; and an optional hard latency cap (`--max-latency-ms`)."""
    latency: LatencySettings = field(default_factory=LatencySettings)
    """How a design's deployed latency is measured, when the objective needs it."""
    evaluation: CandidateSettings = field(default_factory=CandidateSettings)
    """How each candidate is trained and scored."""
    termination: TerminationSettings = field(default_factory=TerminationSettings)
    """Progressive early termination between the stages."""
    ppo: PPOSettings = field(default_factory=PPOSettings)
    """Controller training."""
    evolution: EvolutionSettings = field(default_factory=EvolutionSettings)
    """Regularised evolution, when strategy is evolution."""
    teacher_settings: TeacherSettings = field(default_factory=TeacherSettings)
    """The default teacher, when `teacher` is auto."""

    def __post_init__(self) -> None:
        require(self.budget >= 1, "budget", self.budget, ">= 1")
        seconds = self.time_budget
        require(seconds is None or seconds > 0, "time_budget", seconds, "> 0 seconds or null")
        for name in ("generation", "workers", "threads_per_worker"):
            count = getattr(self, name)
            require(count is None or count >= 1, name, count, ">= 1 or None")
        require(0 < self.val_fraction < 1, "val_fraction", self.val_fraction, "in (0, 1)")
        for name in ("train_count", "val_count"):
            count = getattr(self, name)
            require(count is None or count >= 1, name, count, ">= 1 or None")
        require(self.rescore_top >= 0, "rescore_top", self.rescore_top, ">= 0")
        require(self.rescore_seeds >= 1, "rescore_seeds", self.rescore_seeds, ">= 1")
        limit = self.max_consecutive_failures
        require(limit is None or limit >= 1, "max_consecutive_failures", limit, ">= 1 or None")

        measure = self.latency.measure
        require(
            measure is not False or not self.objective.needs_latency,
            "latency.measure",
            measure,
            f"true or null: the objective ({self.objective.describe()}) needs latencies",
        )

    @property
    def measures_latency(self) -> bool:
        """Whether candidates are timed: when asked, else when the objective needs it."""
        measure = self.latency.measure
        return self.objective.needs_latency if measure is None else measure
