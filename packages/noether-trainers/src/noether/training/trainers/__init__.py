"""Public trainer API: the loop's BaseTrainer (from noether-core) and the concrete trainers."""

from noether.config import BaseTrainerConfig
from noether.core.trainer.base import BaseTrainer
from noether.core.trainer.types import NonFiniteLossError, TrainStepError
from noether.training.trainers.types import LossResult, TrainerResult
from noether.training.trainers.weighted_loss import WeightedLossTrainer

__all__ = [
    "BaseTrainer",
    "BaseTrainerConfig",
    "LossResult",
    "NonFiniteLossError",
    "TrainStepError",
    "TrainerResult",
    "WeightedLossTrainer",
]
