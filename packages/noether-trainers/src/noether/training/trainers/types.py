"""Result types of a training step (the seed's import path; they live in noether-core)."""

from noether.core.trainer.types import LossResult, TrainerResult

__all__ = ["LossResult", "TrainerResult"]
