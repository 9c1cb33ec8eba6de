"""Tiny ModelBase subclasses with an SGD optimizer, small enough to train in a test."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from noether.config import ModelConfig
from noether.config.schemas.optimizer import SGDConfig
from noether.core.models.base import ModelBase


def sgd(lr: float, **options: object) -> SGDConfig:
    """An SGD optimizer schema (momentum, weight_decay, schedule, clipping, ... as options)."""
    return SGDConfig.model_validate({"kind": "sgd", "lr": lr, **options})


class LinearModelConfig(ModelConfig):
    """y = W x + b; with `fields`, each output column is returned under its field's name."""

    kind: str = "noether_testing_linear"
    """Selects this model."""
    target: ClassVar[str] = "noether.core.testing.models:LinearModel"
    in_dim: int = 4
    """Width of x."""
    out_dim: int = 1
    """Width of y when `fields` is empty."""
    fields: list[str] = []
    """Names of the output columns: forward returns {name: column} instead of one tensor."""


class LinearModel(ModelBase):
    """One `linear` layer: a plain regression, or one output column per named field.

    Args:
        model_config: sizes, fields and optimizer.
    """

    def __init__(self, model_config: LinearModelConfig) -> None:
        super().__init__(model_config)
        self.fields = list(model_config.fields)
        self.linear = nn.Linear(model_config.in_dim, len(self.fields) or model_config.out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        out: torch.Tensor = self.linear(x)
        if not self.fields:
            return out
        return {name: out[:, i] for i, name in enumerate(self.fields)}


class TwoLayerModelConfig(ModelConfig):
    """x (4) -> tanh(first) (hidden) -> second (1)."""

    kind: str = "noether_testing_two_layer"
    """Selects this model."""
    target: ClassVar[str] = "noether.core.testing.models:TwoLayerModel"
    hidden: int = 3
    """Width of the hidden layer."""


class TwoLayerModel(ModelBase):
    """Two linear layers (`first`, `second`), so a test can freeze or tie one of them.

    Args:
        model_config: hidden width and optimizer.
    """

    def __init__(self, model_config: TwoLayerModelConfig) -> None:
        super().__init__(model_config)
        self.first = nn.Linear(4, model_config.hidden)
        self.second = nn.Linear(model_config.hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.second(torch.tanh(self.first(x)))
        return out


class FieldsModelConfig(ModelConfig):
    """Linear maps from x (2) to `pressure` (4 values) and `velocity` (4 x 3)."""

    kind: str = "noether_testing_fields"
    """Selects this model."""
    target: ClassVar[str] = "noether.core.testing.models:FieldsModel"
    fields: list[str] = ["pressure", "velocity"]
    """The fields forward returns (both layers exist either way)."""


class FieldsModel(ModelBase):
    """Returns {field: tensor}, as surrogate models of physical fields do.

    One layer per field (`pressure`, `velocity`); velocity has a trailing dimension of 3, so
    losses see fields of different shapes.

    Args:
        model_config: the returned fields and optimizer.
    """

    def __init__(self, model_config: FieldsModelConfig) -> None:
        super().__init__(model_config)
        self.fields = list(model_config.fields)
        self.pressure = nn.Linear(2, 4)
        self.velocity = nn.Linear(2, 12)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = {"pressure": self.pressure(x), "velocity": self.velocity(x).view(-1, 4, 3)}
        return {name: out[name] for name in self.fields}


class Marker(nn.Module):
    """Forwards keyword inputs to `inner`: a stand-in for a wrapper (DDP, a compiled module)
    that shows where in the wrapping order it went."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, **kwargs: torch.Tensor) -> torch.Tensor:
        output: torch.Tensor = self.inner(**kwargs)
        return output


def make_model(lr: float = 0.05, seed: int = 0, **optimizer: object) -> LinearModel:
    """A LinearModel 4 -> 1 with SGD, its weights drawn from `seed`.

    Args:
        lr: learning rate.
        seed: seeds torch before the weights are drawn (same seed, same weights).
        **optimizer: further SGD options (momentum, schedule, clip_grad_norm, ...).
    """
    torch.manual_seed(seed)
    return LinearModel(LinearModelConfig(optimizer=sgd(lr, **optimizer)))


def make_two_layer_model(lr: float = 0.1, seed: int = 0, **optimizer: object) -> TwoLayerModel:
    """A TwoLayerModel with SGD, its weights drawn from `seed` (options as in `make_model`)."""
    torch.manual_seed(seed)
    return TwoLayerModel(TwoLayerModelConfig(optimizer=sgd(lr, **optimizer)))


def make_fields_model(
    fields: list[str] | None = None, lr: float = 0.05, seed: int = 0
) -> FieldsModel:
    """A FieldsModel with SGD returning `fields` (default: both), weights drawn from `seed`."""
    torch.manual_seed(seed)
    config = FieldsModelConfig(optimizer=sgd(lr))
    if fields is not None:
        config = config.model_copy(update={"fields": fields})
    return FieldsModel(config)
