"""Torch-free schema of the demo trainer: `noether-config validate` never imports torch."""

from __future__ import annotations

from typing import ClassVar

from noether.config import WeightedLossTrainerConfig


class ErrorReportingTrainerConfig(WeightedLossTrainerConfig):
    """The weighted-loss trainer, plus `<field>_max_abs_error` in its additional outputs."""

    kind: str
    """Selects this trainer: `callbacks_demo.configs:ErrorReportingTrainerConfig`."""
    target: ClassVar[str] = "callbacks_demo.trainer:ErrorReportingTrainer"
