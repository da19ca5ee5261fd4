"""The compression policy: which candidates (`--compress`), how they are judged (metric, thresholds, forced),
which rows judge them (validation_fraction, `--validation FILE`), and how long prune's recovery fine-tunes a
PyTorch source (`--finetune-steps`). Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.config import ProjectConfig
from ..core.errors import ConfigError
from . import gate, plans, validation
from .recovery import DEFAULT_FINETUNE_STEPS

METRIC_CHOICES = ("auto", *gate.METRICS)


@dataclass(frozen=True)
class CompressionPolicy:
    spec: str = "none"  # none | auto | plans (see plans.py)
    metric: str = "auto"  # auto | top1 | cosine
    min_agreement: float = 0.0  # 0: the metric's default
    max_slowdown: float = 1.05
    force: bool = False
    validation_fraction: float = validation.VALIDATION_FRACTION  # samples held out for the gate
    validation: Path | None = None  # the user's held-out inputs: they validate, all samples calibrate
    finetune_steps: int = DEFAULT_FINETUNE_STEPS  # prune's recovery on a PyTorch source; 0: none

    def __post_init__(self) -> None:
        plans.parse(self.spec)  # raises ConfigError naming the bad part
        if self.metric not in METRIC_CHOICES:
            raise ConfigError(
                f"unknown agreement metric {self.metric!r}", f"use one of {', '.join(METRIC_CHOICES)}"
            )
        if self.finetune_steps < 0:
            raise ConfigError(
                f"--finetune-steps {self.finetune_steps}: the number of steps cannot be negative",
                "use 0 to prune without recovery, or a step count such as 200",
            )

    @classmethod
    def from_config(
        cls,
        config: ProjectConfig,
        metric: str | None = None,
        force: bool = False,
        validation: Path | None = None,
        finetune_steps: int | None = None,
    ) -> CompressionPolicy:
        """The project's compress / min_agreement / max_slowdown / validation_fraction settings plus the
        per-command flags (`finetune_steps` None: the default)."""
        return cls(
            spec=config.compress,
            metric=metric or "auto",
            min_agreement=config.min_agreement,
            max_slowdown=config.max_slowdown,
            force=force,
            validation_fraction=config.validation_fraction,
            validation=validation,
            finetune_steps=DEFAULT_FINETUNE_STEPS if finetune_steps is None else finetune_steps,
        )

    @property
    def enabled(self) -> bool:
        return bool(plans.parse(self.spec))

    @property
    def is_auto(self) -> bool:
        return self.spec.strip().lower() == "auto"

    def threshold(self, metric: str) -> float:
        return self.min_agreement or gate.DEFAULT_MIN_AGREEMENT[metric]
