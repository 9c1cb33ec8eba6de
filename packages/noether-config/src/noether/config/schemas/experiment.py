"""The top level of an experiment file."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from noether.config.registry import Discriminated
from noether.config.schemas.dataset import DatasetConfig
from noether.config.schemas.model import ModelConfig
from noether.config.schemas.tracker import JsonlTrackerConfig, TrackerConfig
from noether.config.schemas.trainer import BaseTrainerConfig
from noether.config.startup import field_docstrings

FOLDER_NAME = r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$"
"""One folder name of a run's path (experiment name, run id): no separator, no `..`, not
hidden."""


class ExperimentConfig(BaseModel):
    """One experiment: data, model, trainer and tracker, and where its run folder goes."""

    model_config = ConfigDict(
        extra="forbid", defer_build=True, use_attribute_docstrings=field_docstrings()
    )

    name: str = Field(min_length=1, pattern=FOLDER_NAME)
    """Experiment name; runs go to `<output_path>/<name>/<run_id>`."""
    output_path: str = "runs"
    """Folder that holds all experiments' run folders (relative to the working directory)."""
    seed: int = 0
    """Seed of Python, NumPy and torch RNGs (offset per rank and data worker)."""
    device: str = Field(default="auto", pattern=r"^(auto|cpu|cuda|cuda:\d+)$")
    """auto (CUDA when available), cpu, cuda or cuda:N."""
    num_workers: int = Field(default=0, ge=0)
    """Data-loader worker processes per rank (0: load batches in the training process)."""
    num_threads: int | None = Field(default=None, ge=1)
    """torch intra-op CPU threads per process; torch's default when absent. One thread avoids
    oversubscription when several processes share few cores."""
    datasets: dict[str, Annotated[DatasetConfig, Discriminated(DatasetConfig)]] = {}
    """Named datasets; `train` is required to train, the others are used by callbacks."""
    model: Annotated[ModelConfig, Discriminated(ModelConfig)]
    """The model to train."""
    # Unparametrised on purpose: `BaseTrainerConfig[Any]` would build one more model at import.
    trainer: Annotated[BaseTrainerConfig, Discriminated(BaseTrainerConfig)]  # type: ignore[type-arg]
    """The trainer: training loop settings, loss and callbacks."""
    tracker: Annotated[TrackerConfig, Discriminated(TrackerConfig)] = Field(
        default_factory=JsonlTrackerConfig
    )
    """Where metrics are written."""

    @model_validator(mode="after")
    def validate_datasets_exist(self) -> "ExperimentConfig":
        """A training run needs `train`; callbacks may only name datasets that exist."""
        trainer = self.trainer
        stops = (trainer.max_epochs, trainer.max_updates, trainer.max_samples)
        trains = any(value for value in stops)
        if trains and "train" not in self.datasets:
            raise ValueError("datasets.train is required to train (max_* > 0)")
        for index, callback in enumerate(trainer.callbacks):
            key = getattr(callback, "dataset_key", None)
            if key is not None and key not in self.datasets:
                known = ", ".join(sorted(self.datasets)) or "none"
                raise ValueError(
                    f"trainer.callbacks.{index}.dataset_key: no dataset {key!r} (datasets: {known})"
                )
        _check_ema_factors(trainer.callbacks)
        return self


def _check_ema_factors(callbacks: list[object]) -> None:
    """An `ema_factor` (offline_loss) needs a callback that averages with that factor (`ema`'s
    `target_factors`), as the runtime does; caught here, before a run folder is made."""
    offered = {
        f"{factor:g}"
        for callback in callbacks
        for factor in getattr(callback, "target_factors", None) or ()
    }
    for index, callback in enumerate(callbacks):
        factor = getattr(callback, "ema_factor", None)
        if factor is not None and f"{factor:g}" not in offered:
            known = ", ".join(sorted(offered)) or "none: add an `ema` callback"
            raise ValueError(
                f"trainer.callbacks.{index}.ema_factor: no ema callback averages with factor "
                f"{factor:g} (target_factors: {known})"
            )
