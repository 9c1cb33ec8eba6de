"""A minimal trainer and quick ways to build one, for tests of the loop and of callbacks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, TypeVar, overload

import torch
from torch.utils.data import Dataset

from noether.config import BaseTrainerConfig, CallbackConfig
from noether.core.data.container import DataContainer
from noether.core.runs import PathProvider
from noether.core.testing.datasets import RegressionDataset
from noether.core.testing.trackers import RecordingTracker
from noether.core.trackers.base import TrackerBase
from noether.core.trainer.base import BaseTrainer

TrainerT = TypeVar("TrainerT", bound=BaseTrainer)

STOP_CRITERIA = ("max_epochs", "max_updates", "max_samples")
"""The trainer config fields of which exactly one must be set."""


class MseTrainerConfig(BaseTrainerConfig[CallbackConfig]):
    """The schema of MseTrainer (BaseTrainerConfig's fields only)."""

    kind: str = "noether_testing_mse"
    """Selects this trainer."""
    target: ClassVar[str] = "noether.core.testing.trainers:MseTrainer"


class MseTrainer(BaseTrainer):
    """The seed's docstring trainer: MSE between the model's output and the batch's `y`.

    Keeps every micro-batch's loss value in `step_losses`, for hand computations of what
    callbacks log.
    """

    def __init__(
        self,
        config: BaseTrainerConfig[CallbackConfig],
        data_container: DataContainer,
        device: str | torch.device,
        tracker: TrackerBase | None,
        path_provider: PathProvider | None,
        main_sampler_kwargs: dict[str, object] | None = None,
        metric_property_provider: object = None,
    ) -> None:
        super().__init__(
            config,
            data_container,
            device,
            tracker,
            path_provider,
            main_sampler_kwargs,
            metric_property_provider,
        )
        self.step_losses: list[float] = []
        """The loss of every micro-batch so far, in order."""

    def loss_compute(
        self, forward_output: torch.Tensor, targets: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        loss = torch.nn.functional.mse_loss(forward_output, targets["y"])
        self.step_losses.append(loss.item())
        return loss


def with_stop_criterion(fields: Mapping[str, object], **default: int) -> dict[str, object]:
    """`fields` plus the `default` stop criterion when they name none of STOP_CRITERIA.

    Args:
        fields: trainer config fields.
        **default: the criterion to add, e.g. `max_updates=6`.
    """
    if any(name in fields for name in STOP_CRITERIA):
        return dict(fields)
    return {**fields, **default}


def make_config(**fields: object) -> MseTrainerConfig:
    """An MseTrainerConfig for the tiny datasets; `fields` override the defaults.

    Defaults: batches of 8, `x` to the model, `y` to the loss, no default callbacks, and
    2 epochs unless `fields` set a stop criterion.
    """
    values: dict[str, object] = {
        "effective_batch_size": 8,
        "forward_properties": ["x"],
        "target_properties": ["y"],
        "add_default_callbacks": False,
        **fields,
    }
    return MseTrainerConfig.model_validate(with_stop_criterion(values, max_epochs=2))


@overload
def make_trainer(
    config: BaseTrainerConfig[CallbackConfig],
    datasets: Mapping[str, Dataset[dict[str, torch.Tensor]]] | None = None,
    tracker: TrackerBase | None = None,
    path_provider: PathProvider | None = None,
    trainer_cls: None = None,
    *,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
) -> MseTrainer: ...


@overload
def make_trainer(
    config: BaseTrainerConfig[CallbackConfig],
    datasets: Mapping[str, Dataset[dict[str, torch.Tensor]]] | None = None,
    tracker: TrackerBase | None = None,
    path_provider: PathProvider | None = None,
    *,
    trainer_cls: type[TrainerT],
    num_workers: int = 0,
    device: str | torch.device = "cpu",
) -> TrainerT: ...


@overload
def make_trainer(
    config: BaseTrainerConfig[CallbackConfig],
    datasets: Mapping[str, Dataset[dict[str, torch.Tensor]]] | None,
    tracker: TrackerBase | None,
    path_provider: PathProvider | None,
    trainer_cls: type[TrainerT],
    *,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
) -> TrainerT: ...


def make_trainer(
    config: BaseTrainerConfig[CallbackConfig],
    datasets: Mapping[str, Dataset[dict[str, torch.Tensor]]] | None = None,
    tracker: TrackerBase | None = None,
    path_provider: PathProvider | None = None,
    trainer_cls: type[BaseTrainer] | None = None,
    *,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
) -> BaseTrainer:
    """A trainer on `datasets` (default: a RegressionDataset as `train`), built as a run would.

    Args:
        config: the trainer's schema (see `make_config`).
        datasets: the run's datasets by name.
        tracker: where metrics go (default: a new RecordingTracker).
        path_provider: the run folder; None for a run that writes no files.
        trainer_cls: the trainer class (default: MseTrainer).
        num_workers: data-loader worker processes.
        device: where to train.
    """
    data = DataContainer(datasets or {"train": RegressionDataset()}, num_workers=num_workers)
    cls = trainer_cls or MseTrainer
    # by keyword, as noether-train builds trainers: `__init__(self, config, **kwargs)` works
    return cls(
        config,
        data_container=data,
        device=device,
        tracker=tracker or RecordingTracker(),
        path_provider=path_provider,
    )
