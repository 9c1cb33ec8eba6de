"""Trackers: where metrics go."""

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from noether.config.registry import RegistryBase
from noether.config.schemas.names import FOLDER_NAME, MAX_NAME_LENGTH, RUN_FOLDER_ENTRIES


def not_a_run_file(name: str) -> str:
    """A tracker's file or folder must not be one that noether keeps in the run folder."""
    if name in RUN_FOLDER_ENTRIES:
        kept = ", ".join(sorted(RUN_FOLDER_ENTRIES))
        raise ValueError(
            f"{name!r} is a file noether keeps in the run folder ({kept}): choose another"
        )
    return name


class TrackerConfig(RegistryBase):
    """A sink for logged metrics."""

    entry_point_group: ClassVar[str] = "noether.trackers"


class JsonlTrackerConfig(TrackerConfig):
    """One JSON object per logging step in a file of the run folder (the default)."""

    kind: str = "jsonl"
    target: ClassVar[str] = "noether.core.trackers.jsonl:JsonlTracker"

    filename: str = Field(default="metrics.jsonl", max_length=MAX_NAME_LENGTH, pattern=FOLDER_NAME)
    """File name inside the run folder."""

    @field_validator("filename")
    @classmethod
    def check_filename(cls, value: str) -> str:
        """Not a file that noether keeps in the run folder."""
        return not_a_run_file(value)


class TensorboardTrackerConfig(TrackerConfig):
    """TensorBoard event files in the run folder."""

    kind: str = "tensorboard"
    target: ClassVar[str] = "noether.core.trackers.tensorboard:TensorboardTracker"

    subdir: str = Field(default="tensorboard", max_length=MAX_NAME_LENGTH, pattern=FOLDER_NAME)
    """Folder inside the run folder that holds the event files (a name, no path)."""

    @field_validator("subdir")
    @classmethod
    def check_subdir(cls, value: str) -> str:
        """Not a file that noether keeps in the run folder."""
        return not_a_run_file(value)


class WandbTrackerConfig(TrackerConfig):
    """Weights & Biases, with wandb's own mode and credentials (`WANDB_MODE`, `wandb login`)."""

    kind: str = "wandb"
    target: ClassVar[str] = "noether.core.trackers.wandb:WandbTracker"

    project: str = "noether"
    """W&B project."""
    entity: str | None = None
    """W&B entity (user or team)."""
    mode: Literal["online", "offline", "disabled"] | None = None
    """Forced mode; by default wandb decides (`WANDB_MODE`, `wandb offline`, else online)."""


class MlflowTrackerConfig(TrackerConfig):
    """MLflow: one MLflow run per run folder, continued when the run is resumed."""

    kind: str = "mlflow"
    target: ClassVar[str] = "noether.core.trackers.mlflow:MlflowTracker"

    tracking_uri: str | None = None
    """Where runs are stored (`http://host:5000`, `sqlite:///path.db`, ...); by default
    `MLFLOW_TRACKING_URI`, else a SQLite store `mlflow.db` inside the run folder."""
    experiment_name: str | None = None
    """MLflow experiment the run belongs to; by default the experiment's `name`."""


class NoopTrackerConfig(TrackerConfig):
    """Discard all metrics."""

    kind: str = "noop"
    target: ClassVar[str] = "noether.core.trackers.noop:NoopTracker"
