"""Trackers: where metrics go."""

from typing import ClassVar, Literal

from noether.config.registry import RegistryBase


class TrackerConfig(RegistryBase):
    """A sink for logged metrics."""

    entry_point_group: ClassVar[str] = "noether.trackers"


class JsonlTrackerConfig(TrackerConfig):
    """One JSON object per logging step in a file of the run folder (the default)."""

    kind: str = "jsonl"
    target: ClassVar[str] = "noether.core.trackers.jsonl:JsonlTracker"

    filename: str = "metrics.jsonl"
    """File name inside the run folder."""


class TensorboardTrackerConfig(TrackerConfig):
    """TensorBoard event files in the run folder."""

    kind: str = "tensorboard"
    target: ClassVar[str] = "noether.core.trackers.tensorboard:TensorboardTracker"

    subdir: str = "tensorboard"
    """Folder inside the run folder that holds the event files."""


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
