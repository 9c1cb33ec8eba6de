"""Optimizer schemas: sgd, adam, adamw, with param-group modifiers and an optional schedule."""

from typing import Annotated, ClassVar

from pydantic import ConfigDict, Field, field_validator, model_validator

from noether.config.discriminated import Discriminated
from noether.config.registry import RegistryBase
from noether.config.schemas.schedule import ScheduleConfig


class OptimizerConfig(RegistryBase):
    """Optimizer of a model, with gradient clipping and parameter-group modifiers."""

    entry_point_group: ClassVar[str] = "noether.optimizers"
    # an infinite lr, decay or clip bound validates past `gt=0` and wrecks the weights in the
    # first update (reported then as a non-finite gradient): every number here is finite
    model_config = ConfigDict(allow_inf_nan=False)

    lr: float = Field(gt=0)
    """Peak learning rate; a schedule multiplies it."""
    weight_decay: float = Field(default=0.0, ge=0)
    """Decoupled (adamw) or L2 (sgd, adam) weight decay."""
    clip_grad_norm: float | None = Field(default=None, gt=0)
    """Clip the global gradient norm to this value before each step."""
    clip_grad_value: float | None = Field(default=None, gt=0)
    """Clip every gradient element to [-value, value] before each step."""
    exclude_bias_and_norm_from_wd: bool = True
    """Apply no weight decay to biases and normalisation parameters (1-d tensors)."""
    lr_scale: dict[str, float] = {}
    """Learning-rate multipliers by parameter name: a parameter whose dotted name contains the
    key as whole parts (`head`, `blocks.0`; `blocks.1` is not part of `blocks.10.weight`) gets
    lr * value (the longest matching key wins)."""
    schedule: Annotated[ScheduleConfig, Discriminated(ScheduleConfig)] | None = None
    """Learning-rate schedule over the training updates; constant when absent."""

    @field_validator("lr_scale")
    @classmethod
    def validate_lr_scale(cls, lr_scale: dict[str, float]) -> dict[str, float]:
        """Scales must be non-negative, keys non-empty (an empty key is part of every name, so
        it would scale the whole model); reported at `lr_scale`, the key to fix."""
        if any(not key.strip() for key in lr_scale):
            raise ValueError(
                "lr_scale keys must name part of a parameter name (an empty key matches every "
                "parameter: to scale the whole model, change lr)"
            )
        bad = [key for key, value in lr_scale.items() if value < 0]
        if bad:
            raise ValueError(f"lr_scale values must be >= 0 (negative for {', '.join(bad)})")
        return lr_scale


class SGDConfig(OptimizerConfig):
    """Stochastic gradient descent with optional (Nesterov) momentum."""

    kind: str = "sgd"
    target: ClassVar[str] = "torch.optim:SGD"

    momentum: float = Field(default=0.0, ge=0, lt=1)
    """Momentum factor."""
    nesterov: bool = False
    """Use Nesterov momentum (needs momentum > 0)."""

    @model_validator(mode="after")
    def validate_nesterov(self) -> "SGDConfig":
        """Nesterov momentum is undefined without momentum."""
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov requires momentum > 0")
        return self


class AdamConfig(OptimizerConfig):
    """Adam with L2 weight decay."""

    kind: str = "adam"
    target: ClassVar[str] = "torch.optim:Adam"

    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (
        0.9,
        0.999,
    )
    """Decay rates of the first and second moment estimates."""
    eps: float = Field(default=1e-8, gt=0)
    """Term added to the denominator for numerical stability."""


class AdamWConfig(AdamConfig):
    """Adam with decoupled weight decay."""

    kind: str = "adamw"
    target: ClassVar[str] = "torch.optim:AdamW"

    weight_decay: float = Field(default=0.01, ge=0)
    """Decoupled weight decay."""
