"""Torch-free schemas of the end-to-end project (validated without importing the runtime)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from noether.config import BaseTrainerConfig, CallbackConfig, DatasetConfig, ModelConfig


class RegressionDatasetConfig(DatasetConfig):
    """y = x . w + 0.5 for fixed w; items {"x", "y", "__meta_index"}."""

    kind: str = "train_cli_regression_dataset"
    target: ClassVar[str] = "train_cli_runtime:RegressionDataset"

    size: int = Field(default=64, ge=1)
    """Number of samples."""
    features: int = Field(default=4, ge=1)
    """Input features."""


class LinearModelConfig(ModelConfig):
    """One linear layer."""

    kind: str = "train_cli_linear_model"
    target: ClassVar[str] = "train_cli_runtime:LinearModel"

    features: int = Field(default=4, ge=1)
    """Input features."""


class RegressionTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    """Mean squared error between the model output and `y`."""

    kind: str = "train_cli_regression_trainer"
    target: ClassVar[str] = "train_cli_runtime:RegressionTrainer"


class MissingPackageModelConfig(ModelConfig):
    """A model whose implementation lives in a package that is not installed."""

    kind: str = "train_cli_missing_package_model"
    target: ClassVar[str] = "acme_surrogates.models:Transolver"
