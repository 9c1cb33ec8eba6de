"""Torch-free schemas of the project's kinds (published as entry points in pyproject.toml)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from noether.config import BaseTrainerConfig, CallbackConfig, DatasetConfig, ModelConfig
from noether.config.losses import LossName


class AcmeTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    """The project's trainer: one field `signal`, with a loss chosen by name."""

    kind: str = "acme_trainer"
    target: ClassVar[str] = "acme_surrogates.trainer:AcmeTrainer"

    loss_fn: LossName = Field(default="acme_log_cosh", validate_default=True)
    """Loss name: built-in, from `noether.losses` (this project adds acme_log_cosh) or dotted;
    `noether-config validate` refuses an unknown one at its line."""


class AcmeMlpConfig(ModelConfig):
    """A small MLP from `x` to `signal`."""

    kind: str = "acme_mlp"
    target: ClassVar[str] = "acme_surrogates.model:AcmeMlp"

    hidden_dim: int = Field(default=32, ge=1)
    """Width of the hidden layer."""


class AcmeWavesConfig(DatasetConfig):
    """Samples of signal = sin(3 x0) + 0.5 x1, generated from the index."""

    kind: str = "acme_waves"
    target: ClassVar[str] = "acme_surrogates.dataset:AcmeWaves"

    num_samples: int = Field(default=256, ge=1)
    """Number of samples."""
    seed: int = Field(default=0, ge=0)
    """Seed of this split."""
