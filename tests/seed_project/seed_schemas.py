"""Torch-free schemas of the seed-fidelity project (kinds by dotted path from experiment.yaml)."""

from typing import ClassVar, Literal

from pydantic import Field

from noether.config import BaseTrainerConfig, DatasetConfig, ModelConfig


class FieldsDatasetConfig(DatasetConfig):
    """Random points x (3 features) with a pressure (sum of x) and a velocity (2 x[:2])."""

    target: ClassVar[str] = "seed_runtime:FieldsDataset"

    size: int = Field(default=32, ge=1)
    """Number of samples."""
    seed: int = 0
    """Seed of the inputs."""


class FieldsModelConfig(ModelConfig):
    """One linear layer per field; forward(x) returns {field: prediction}."""

    target: ClassVar[str] = "seed_runtime:FieldsModel"

    fields: list[str] = ["pressure"]
    """Fields the model predicts."""


class DocstringTrainerConfig(BaseTrainerConfig):
    """The trainer written as the seed's docstring shows."""

    target: ClassVar[str] = "seed_runtime:DocstringTrainer"


class NoneResultTrainerConfig(BaseTrainerConfig):
    """A train_step that returns TrainerResult(loss) or TrainerResult(loss, None, None)."""

    target: ClassVar[str] = "seed_runtime:NoneResultTrainer"

    form: Literal["loss_only", "explicit_none"] = "loss_only"
    """Which of the two seed forms train_step returns."""


class NotAResultTrainerConfig(BaseTrainerConfig):
    """A train_step that returns a dict instead of a TrainerResult."""

    target: ClassVar[str] = "seed_runtime:NotAResultTrainer"


class PositionalTrainerConfig(BaseTrainerConfig):
    """A trainer whose constructor takes everything after the config positionally only."""

    target: ClassVar[str] = "seed_runtime:PositionalTrainer"
