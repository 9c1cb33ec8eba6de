"""WeightedLossTrainer: the loss is a weighted sum of one loss per output field.

The model's forward returns `dict[str, Tensor]` keyed like `field_weights`; the batch holds
`<field>_target` for each field. Logged losses (`loss/online/<name>`, `loss/<dataset>/<name>`):
each field's weighted loss under the field's name (they sum to `total`), its unweighted loss
under `<field>_unweighted`, and the weighted sum as `total`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from noether.config import BaseTrainerConfig, WeightedLossTrainerConfig
from noether.config.losses import (
    TOTAL_KEY,
    field_name_clash,
    missing_field_targets,
    target_key,
    unweighted_key,
)
from noether.core.build import ConfigKeyError
from noether.core.data.container import DataContainer
from noether.core.runs import PathProvider
from noether.core.trackers.base import TrackerBase
from noether.core.trainer.base import BaseTrainer
from noether.core.trainer.batching import BatchSplitter
from noether.core.trainer.types import LossResult, TrainerResult
from noether.training.trainers.losses import LossFn, resolve_loss


class WeightedLossError(ConfigKeyError, ValueError):
    """The model output or the batch does not fit the trainer's `field_weights`.

    A BuildError, so that `noether-train` reports it as a message rather than a traceback,
    at the file and line of the key it names (`trainer.field_weights.<field>`).
    """


def _field_key(field: str) -> str:
    return f"trainer.field_weights.{field}"


class WeightedLossTrainer(BaseTrainer):
    """Trains a model whose forward returns one tensor per physical field.

    Args:
        trainer_config: field weights, loss function and the loop settings.
        data_container: the run's datasets, as for `BaseTrainer`.
        device: device to train on, as for `BaseTrainer`.
        tracker: where metrics go, as for `BaseTrainer`.
        path_provider: the run folder, as for `BaseTrainer`.
        main_sampler_kwargs: as for `BaseTrainer`.
        metric_property_provider: as for `BaseTrainer`.

    Example:
        >>> from noether.config import WeightedLossTrainerConfig
        >>> trainer_params = dict(field_weights={"pressure": 1.0}, loss_fn="l1")
        >>> config = WeightedLossTrainerConfig(**trainer_params, max_epochs=10,
        ...                                    effective_batch_size=32)
    """

    config: WeightedLossTrainerConfig

    def __init__(
        self,
        trainer_config: WeightedLossTrainerConfig,
        data_container: DataContainer,
        device: str | torch.device,
        tracker: TrackerBase | None,
        path_provider: PathProvider | None,
        main_sampler_kwargs: dict[str, Any] | None = None,
        metric_property_provider: object = None,
    ) -> None:
        if not isinstance(trainer_config, WeightedLossTrainerConfig):
            raise TypeError(
                "WeightedLossTrainer needs a WeightedLossTrainerConfig, got "
                f"{type(trainer_config).__name__}"
            )
        clash = field_name_clash(trainer_config.field_weights)
        if clash is not None:  # validation refuses it too; this is for unvalidated configs
            raise WeightedLossError(clash[1], _field_key(clash[0]))
        # Resolve the loss first: an unknown name fails before any data or model is touched.
        self.loss_fn: LossFn = resolve_loss(trainer_config.loss_fn)
        self.field_weights: dict[str, float] = dict(trainer_config.field_weights)
        # (field, weight) pairs in the order of `field_weights`.
        self.loss_items: list[tuple[str, float]] = list(self.field_weights.items())
        super().__init__(
            _with_target_properties(trainer_config),
            data_container,
            device,
            tracker,
            path_provider,
            main_sampler_kwargs,
            metric_property_provider,
        )
        # Splits batches like BaseTrainer.train_step does (no forward_properties: every key
        # that is not a target goes to the model; unused keys are warned about once).
        self._field_splitter = BatchSplitter(self.forward_properties, self.target_properties)

    @classmethod
    def item_keys(cls, config: BaseTrainerConfig[Any]) -> dict[str, list[str]]:
        """The forward properties, and the target of each weighted field under its
        `field_weights.<field>` key (or the given target_properties, which hold them)."""
        keys = super().item_keys(config)
        if isinstance(config, WeightedLossTrainerConfig) and not config.target_properties:
            del keys["target_properties"]
            keys.update(
                {f"field_weights.{field}": [target_key(field)] for field in config.field_weights}
            )
        return keys

    @classmethod
    def forward_keys(
        cls, config: BaseTrainerConfig[Any], item_keys: Sequence[str]
    ) -> list[str] | None:
        """As `BaseTrainer.forward_keys`: every key but the targets of `field_weights` without
        forward_properties."""
        if isinstance(config, WeightedLossTrainerConfig):
            config = _with_target_properties(config)
        return super().forward_keys(config, item_keys)

    def loss_compute(self, forward_output: Any, targets: dict[str, Tensor]) -> LossResult:
        """Weighted loss of each field, keyed by field (their sum is the total loss)."""
        return self.weighted_losses(self.field_losses(forward_output, targets))

    def weighted_losses(self, losses: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """weight x loss of every field whose weight is not 0, in the order of field_weights."""
        return {field: weight * losses[field] for field, weight in self.loss_items if weight}

    def field_losses(self, forward_output: Any, targets: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Unweighted loss of every field in `field_weights`.

        Raises:
            WeightedLossError: the output is not a dict, lacks a field, a target is missing, or
                the shapes of a field and its target differ.
        """
        if not isinstance(forward_output, Mapping):
            raise WeightedLossError(
                "WeightedLossTrainer needs the model's forward to return a dict of tensors "
                f"keyed by field ({_names(self.field_weights)}), got "
                f"{type(forward_output).__name__}"
            )
        losses: dict[str, Tensor] = {}
        for field, _ in self.loss_items:
            if field not in forward_output:
                raise WeightedLossError(
                    f"the model output has no field {field!r} (weighted in field_weights: "
                    f"{_names(self.field_weights)}); the model returned: "
                    f"{_names(forward_output)}",
                    _field_key(field),
                )
            key = target_key(field)
            if key not in targets:
                raise WeightedLossError(
                    f"the batch has no {key!r}, the target of field {field!r}; "
                    f"batch keys: {_names(targets)}",
                    _field_key(field),
                )
            prediction, target = forward_output[field], targets[key]
            if not isinstance(prediction, Tensor):
                raise WeightedLossError(
                    f"the model output {field!r} is a {type(prediction).__name__}, not a tensor"
                )
            if not isinstance(target, Tensor):
                raise WeightedLossError(
                    f"the batch's {key!r} (the target of field {field!r}) is a "
                    f"{type(target).__name__}, not a tensor: return a tensor at {key!r} from "
                    "the dataset's items (a list or tuple in each item is batched as a list)"
                )
            if prediction.shape != target.shape:
                raise WeightedLossError(
                    f"field {field!r}: the model output has shape {tuple(prediction.shape)} "
                    f"but {key!r} has shape {tuple(target.shape)}; they must match"
                )
            loss = self.loss_fn(prediction, target)
            if not isinstance(loss, Tensor) or loss.ndim != 0:
                got = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
                raise WeightedLossError(
                    f"loss_fn {self.config.loss_fn!r} returned {got} for field {field!r}; "
                    "a loss must reduce to a scalar tensor"
                )
            losses[field] = loss
        return losses

    def train_step(self, batch: dict[str, Tensor], model: torch.nn.Module) -> TrainerResult:
        """Forward pass and weighted loss.

        Logs each weighted field loss under the field's name (fields of weight 0 have none;
        the weighted ones sum to `total`), every field's unweighted loss as
        `<field>_unweighted`, and the weighted sum as `total`.
        """
        try:
            forward_batch, targets = self._field_splitter.split(batch)
        except KeyError:
            self.check_batch(batch)
            raise
        losses = self.field_losses(model(**forward_batch), targets)
        weighted = self.weighted_losses(losses)
        terms = iter(weighted.values())
        total_loss = next(terms)
        for term in terms:
            total_loss = total_loss + term
        losses_to_log = {field: loss.detach() for field, loss in weighted.items()}
        for field, loss in losses.items():
            losses_to_log[unweighted_key(field)] = loss.detach()
        losses_to_log[TOTAL_KEY] = total_loss.detach()
        return TrainerResult(total_loss, losses_to_log, additional_outputs={})

    def check_batch(self, batch: Mapping[str, Any]) -> None:
        """Raises a WeightedLossError naming the forward or target keys missing in `batch`."""
        for field, _ in self.loss_items:
            key = target_key(field)
            if key not in batch:
                raise WeightedLossError(
                    f"the batch has no {key!r}, the target of field {field!r}; "
                    f"batch keys: {_names(batch)}",
                    _field_key(field),
                )
        wanted = (*self.forward_properties, *self.target_properties)
        missing = [key for key in wanted if key not in batch]
        if missing:
            raise WeightedLossError(
                f"the batch has no {_names(missing)} (forward_properties: "
                f"{_names(self.forward_properties)}; target_properties: "
                f"{_names(self.target_properties)}); batch keys: {_names(batch)}"
            )


def _with_target_properties(config: WeightedLossTrainerConfig) -> WeightedLossTrainerConfig:
    """Defaults target_properties to `<field>_target` for every field; checks given ones."""
    needed = [target_key(field) for field in config.field_weights]
    if not config.target_properties:
        return config.model_copy(update={"target_properties": needed})
    problem = missing_field_targets(config.field_weights, config.target_properties)
    if problem is not None:  # validation refuses it too; this is for unvalidated configs
        raise WeightedLossError(problem, "trainer.target_properties")
    return config


def _names(keys: Any) -> str:
    names = [str(key) for key in keys]
    return ", ".join(names) if names else "none"
