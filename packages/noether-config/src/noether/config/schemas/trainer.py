"""Trainer schemas: the seed's BaseTrainerConfig and the weighted-loss trainer."""

import math
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

from noether.config.batching import METADATA_PREFIX, split_batch
from noether.config.discriminated import Discriminated
from noether.config.errors import error_at
from noether.config.field_rules import AtMostOne, ExactlyOne, FieldRule, Requires
from noether.config.losses import (
    LossName,
    field_name_clash,
    missing_field_targets,
    weighted_loss_names,
)
from noether.config.registry import RegistryBase
from noether.config.schemas.callback import CallbackConfig
from noether.config.schemas.initializer import InitializerConfig
from noether.config.startup import field_docstrings

if TYPE_CHECKING:
    from pydantic.json_schema import JsonSchemaValue

TCallbackConfig = TypeVar("TCallbackConfig", bound=CallbackConfig)

Precision = Literal["float32", "fp32", "float16", "fp16", "bfloat16", "bf16"]

CompileMode = Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]


class CompileOptions(BaseModel):
    """Options passed to `torch.compile` when `use_torch_compile` is on (torch's defaults when
    left out), so a run can ask for CUDA graphs or static shapes from its YAML."""

    model_config = ConfigDict(
        extra="forbid", defer_build=True, use_attribute_docstrings=field_docstrings()
    )

    mode: CompileMode = "default"
    """torch.compile mode: default; reduce-overhead (CUDA graphs: fewer kernel launches, for
    small models whose step is bound by launch rate); max-autotune (slow compile, tuned
    kernels, with CUDA graphs); max-autotune-no-cudagraphs (the same without CUDA graphs)."""
    dynamic: bool | None = None
    """Shapes: true compiles for dynamic shapes at once, false specialises to each shape seen
    (one graph per micro-batch size: at most two, as an uneven split differs by one sample),
    null lets torch decide (recompiles when a shape changes, then dynamic)."""
    fullgraph: bool = False
    """Fail when the model cannot be captured as one graph (no graph break), instead of
    running the uncapturable parts eagerly."""


NONE_MEANS_DEFAULT = frozenset(
    {
        "add_default_callbacks",
        "add_trainer_callbacks",
        "precision",
        "callbacks",
        "skip_nan_loss",
        "skip_nan_loss_max_count",
        "disable_gradient_accumulation",
        "save_on_sigint",
        "use_torch_compile",
        "find_unused_params",
        "static_graph",
        "forward_properties",
        "target_properties",
        "monitor_training_stability",
        "monitor_interval",
    }
)
"""Fields of BaseTrainerConfig that are optional in the seed (`| None`): None (YAML `callbacks:`
with nothing after it) means the field's default."""


class BaseTrainerConfig(RegistryBase, Generic[TCallbackConfig]):
    """Settings of the training loop that every trainer shares."""

    entry_point_group: ClassVar[str] = "noether.trainers"

    max_epochs: int | None = Field(default=None, ge=0)
    """Train this many epochs (0: evaluation only). Exactly one max_* is set."""
    max_updates: int | None = Field(default=None, ge=0)
    """Train this many optimizer updates (0: evaluation only)."""
    max_samples: int | None = Field(default=None, ge=0)
    """Train until this many samples were seen (0: evaluation only)."""
    start_at_epoch: int | None = Field(default=None, ge=0)
    """Skip the first epochs (counters and schedules advance as if they had run)."""
    add_default_callbacks: bool = True
    """Add the default logging callbacks (progress, timings, loss, lr, ...)."""
    add_trainer_callbacks: bool = True
    """Add the callbacks that the trainer class itself contributes."""
    effective_batch_size: int = Field(ge=1)
    """Samples per optimizer update, summed over devices and accumulation steps."""
    precision: Precision = "float32"
    """Autocast precision of forward passes; float16 uses a gradient scaler on CUDA and runs as
    bfloat16 on CPU (no scaler needed); `noether-train --dry-run` prints the one used."""
    callbacks: list[Annotated[TCallbackConfig, Discriminated(CallbackConfig)]] = []
    """User callbacks (checkpointing, evaluation, early stopping, ...)."""
    initializer: Annotated[InitializerConfig, Discriminated(InitializerConfig)] | None = None
    """Resume a run or load weights before training."""
    log_every_n_epochs: int | None = Field(default=None, ge=1)
    """Interval of the default logging callbacks in epochs (at most one log_every_n_*)."""
    log_every_n_updates: int | None = Field(default=None, ge=1)
    """Interval of the default logging callbacks in updates."""
    log_every_n_samples: int | None = Field(default=None, ge=1)
    """Interval of the default logging callbacks in samples."""
    track_every_n_epochs: int | None = Field(default=None, ge=1)
    """Interval of the default tracking callbacks in epochs (at most one track_every_n_*)."""
    track_every_n_updates: int | None = Field(default=None, ge=1)
    """Interval of the default tracking callbacks in updates."""
    track_every_n_samples: int | None = Field(default=None, ge=1)
    """Interval of the default tracking callbacks in samples."""
    max_batch_size: int | None = Field(default=None, ge=1)
    """Largest micro-batch per device; a bigger batch is split by gradient accumulation into the
    fewest micro-batches that fit, uneven if need be (12 with max 8: 6 + 6; 7 with max 4:
    4 + 3), each loss weighted by its share of the samples."""
    skip_nan_loss: bool = False
    """Skip micro-batches whose loss is NaN or infinite on any rank: they add no gradient, and
    an update whose micro-batches were all skipped leaves the weights as they were (decided
    on the device, without a host sync per step). A run that skipped every micro-batch fails
    when it ends."""
    skip_nan_loss_max_count: int = Field(default=100, ge=1)
    """Stop with an error when more micro-batches than this were skipped in a row (noticed
    at the next track interval, checkpoint or the end)."""
    disable_gradient_accumulation: bool = False
    """Never accumulate: the per-device batch is used whole whatever max_batch_size says."""
    save_on_sigint: bool = False
    """Ctrl-C (SIGINT) finishes the update and writes a checkpoint before exiting (exit code
    75), as SIGTERM always does; without it Ctrl-C stops at once (exit code 130)."""
    stop_on_nan_loss: bool = True
    """Stop with an error when the loss turns NaN or infinite (noticed at the track interval
    and before each checkpoint, so checkpoints keep finite weights); off: train on."""
    use_torch_compile: bool = False
    """Wrap the model with torch.compile (after DDP)."""
    compile_options: CompileOptions | None = None
    """torch.compile's mode, dynamic and fullgraph (needs use_torch_compile; torch's
    defaults when absent)."""
    find_unused_params: bool = False
    """DDP: look for parameters that get no gradient."""
    static_graph: bool = False
    """DDP: the graph is the same at every step."""
    forward_properties: list[str] = []
    """Batch keys passed to the model's forward."""
    target_properties: list[str] = []
    """Batch keys passed to loss_compute as targets."""
    dataloader_prefetch_factor: int | None = Field(default=2, ge=1)
    """Batches each data worker loads in advance."""
    monitor_training_stability: bool = False
    """Log gradient norm, parameter norm and the scaler's scale."""
    monitor_interval: int = Field(default=100, ge=1)
    """Updates between two stability measurements."""

    @model_validator(mode="before")
    @classmethod
    def none_means_default(cls, data: Any) -> Any:
        """A seed-optional field given as None takes its default (see NONE_MEANS_DEFAULT)."""
        if isinstance(data, dict) and any(
            data.get(name, False) is None for name in NONE_MEANS_DEFAULT
        ):
            return {
                key: value
                for key, value in data.items()
                if value is not None or key not in NONE_MEANS_DEFAULT
            }
        return data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> "JsonSchemaValue":
        """The JSON Schema accepts null where validation does (NONE_MEANS_DEFAULT), so an
        editor does not flag `callbacks:` with nothing after it."""
        from noether.config.kind_json_schema import accept_null

        json_schema = super().__get_pydantic_json_schema__(schema, handler)
        accept_null(handler.resolve_ref_schema(json_schema), NONE_MEANS_DEFAULT)
        return json_schema

    @classmethod
    def field_rules(cls) -> tuple[FieldRule, ...]:
        """Exactly one stop criterion (0 means an evaluation-only run); start_at_epoch counts
        in epochs and is no initializer's business (a resumed run starts where its checkpoint
        was written); at most one log_every_n_* and at most one track_every_n_*."""
        return (
            ExactlyOne("max_epochs", "max_updates", "max_samples"),
            Requires("start_at_epoch", "max_epochs"),
            AtMostOne("start_at_epoch", "initializer"),
            AtMostOne("log_every_n_epochs", "log_every_n_updates", "log_every_n_samples"),
            AtMostOne("track_every_n_epochs", "track_every_n_updates", "track_every_n_samples"),
        )

    def logged_losses(self) -> list[str] | None:
        """Names of the losses that `train_step` logs (`loss/<dataset>/<name>`), where the
        config tells them, so that validation can check a metric_key against them; None where
        only the run knows (a trainer's own train_step)."""
        return None

    @model_validator(mode="after")
    def validate_start_at_epoch(self) -> "BaseTrainerConfig[TCallbackConfig]":
        """Training cannot start after its last epoch."""
        if (
            self.start_at_epoch is not None
            and self.max_epochs is not None
            and self.start_at_epoch > self.max_epochs
        ):
            message = (
                f"start_at_epoch ({self.start_at_epoch}) is after max_epochs ({self.max_epochs})"
            )
            raise error_at(type(self).__name__, "start_at_epoch", message, self.start_at_epoch)
        return self

    @model_validator(mode="after")
    def validate_compile_options(self) -> "BaseTrainerConfig[TCallbackConfig]":
        """compile_options only mean something when the model is compiled."""
        if self.compile_options is not None and not self.use_torch_compile:
            message = "compile_options is set but use_torch_compile is not true"
            raise error_at(type(self).__name__, "compile_options", message, self.compile_options)
        return self

    @field_validator("forward_properties", "target_properties")
    @classmethod
    def validate_no_metadata(cls, keys: list[str]) -> list[str]:
        """A `__meta*` key never reaches the model or the loss: naming one passed every check
        (item 0 has it) and failed in the first batch, which had dropped it."""
        named = [key for key in keys if key.startswith(METADATA_PREFIX)]
        if named:
            raise ValueError(
                f"{', '.join(named)}: keys starting with {METADATA_PREFIX} are metadata, which "
                "each batch passes to neither the model nor the loss; rename the item's key to "
                "use it"
            )
        return keys

    @model_validator(mode="after")
    def validate_batch_sizes(self) -> "BaseTrainerConfig[TCallbackConfig]":
        """The batch splits into micro-batches by the rule the runtime uses (`split_batch`:
        the fewest of at most max_batch_size, uneven if need be); no two roles for one key."""
        split_batch(
            self.effective_batch_size,
            self.max_batch_size,
            disable_gradient_accumulation=self.disable_gradient_accumulation,
        )
        overlap = sorted(set(self.forward_properties) & set(self.target_properties))
        if overlap:
            raise ValueError(f"keys both forward and target properties: {', '.join(overlap)}")
        return self


if TYPE_CHECKING:

    class _WeightedLossBase(BaseTrainerConfig[CallbackConfig]):
        """What type checkers see: callbacks are CallbackConfig instances."""

else:
    # At run time the unparametrised class: its type variable is bound to CallbackConfig, so the
    # fields validate the same, while `BaseTrainerConfig[CallbackConfig]` would build the schema
    # of BaseTrainerConfig and create one more model class at import.
    _WeightedLossBase = BaseTrainerConfig


class WeightedLossTrainerConfig(_WeightedLossBase):
    """A trainer whose loss is a weighted sum of one loss per output field."""

    kind: str = "weighted_loss"
    target: ClassVar[str] = "noether.training.trainers.weighted_loss:WeightedLossTrainer"

    field_weights: dict[str, float] = Field(min_length=1)
    """Output field -> weight (>= 0); the batch holds `<field>_target` for each field."""
    loss_fn: LossName = Field(default="mse", validate_default=True)
    """Loss per field: a built-in name, a name from `noether.losses`, or a dotted import path
    (`my_project.losses:my_loss`; its module must be findable when the config is validated).
    The default is checked too: a plug-in that also publishes `mse` makes it ambiguous."""

    def logged_losses(self) -> list[str] | None:
        """Each trained field, each field's `<field>_unweighted` and `total`; None for a
        schema that builds another trainer class (its train_step may log more)."""
        if self.target != WeightedLossTrainerConfig.target:
            return None
        return weighted_loss_names(self.field_weights)

    @field_validator("field_weights")
    @classmethod
    def validate_field_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        """Weights are finite, non-negative and at least one is positive (a NaN weight
        passes `< 0`, and NaN or inf would only surface as a non-finite loss while training);
        no field takes a name the trainer logs (`total`, another field's `_unweighted`)."""
        bad = {}
        for name, weight in weights.items():
            if not math.isfinite(weight):
                bad[name] = "a weight must be a finite number"
            elif weight < 0:
                bad[name] = "a weight must be >= 0"
        if bad:  # each at its own key (a line of its own in a block mapping)
            errors: list[Any] = [
                {
                    "type": PydanticCustomError("field_weight", text),
                    "loc": (name,),
                    "input": weights[name],
                }
                for name, text in bad.items()
            ]
            raise ValidationError.from_exception_data(cls.__name__, errors)
        if not any(weight > 0 for weight in weights.values()):
            raise ValueError("at least one field weight must be > 0")
        clash = field_name_clash(weights)
        if clash is not None:
            raise ValueError(clash[1])
        return weights

    @model_validator(mode="after")
    def validate_target_properties(self) -> "WeightedLossTrainerConfig":
        """Given target properties hold every weighted field's `<field>_target` (the rule the
        trainer applies when it is built, checked here before a run folder exists)."""
        problem = missing_field_targets(self.field_weights, self.target_properties)
        if problem is not None:
            raise ValueError(problem)
        return self
