"""Root schema of callbacks; concrete kinds live beside it in `callbacks.py`."""

from typing import ClassVar

from pydantic import Field

from noether.config.field_rules import ExactlyOne, FieldRule, Forbidden, Requires
from noether.config.registry import RegistryBase

FREQUENCY_FIELDS = ("every_n_epochs", "every_n_updates", "every_n_samples")
"""How often a periodic callback runs: exactly one is given."""


class CallbackConfig(RegistryBase):
    """A callback that runs periodically: every n epochs, updates or samples (exactly one)."""

    entry_point_group: ClassVar[str] = "noether.callbacks"
    periodic: ClassVar[bool] = True
    """False for kinds that run at fixed points (e.g. after training) and take no frequency."""
    never_due: ClassVar[str] = "will not run in this run"
    """What a run too short for its first due point means for this kind (a note says it)."""
    missed_at_end: ClassVar[str | None] = None
    """What a run that ends between two due points misses, for kinds where that matters (a
    note says it); None: nothing."""
    logs_no_metrics: ClassVar[bool] = False
    """True for kinds known to log no metric (checkpoints, early stopping): validation then
    knows every metric that the callback list logs."""

    every_n_epochs: int | None = Field(default=None, ge=1)
    """Run after every n-th epoch."""
    every_n_updates: int | None = Field(default=None, ge=1)
    """Run after every n-th optimizer update."""
    every_n_samples: int | None = Field(default=None, ge=1)
    """Run whenever the number of training samples seen crosses a multiple of n."""
    batch_size: int | None = Field(default=None, ge=1)
    """Batch size for callbacks that iterate a dataset; required with every_n_samples."""

    @classmethod
    def field_rules(cls) -> tuple[FieldRule, ...]:
        """Exactly one frequency for periodic kinds, none for the others; batch_size when
        counting samples."""
        return (
            ExactlyOne(*FREQUENCY_FIELDS)
            if cls.periodic
            else Forbidden(*FREQUENCY_FIELDS, why="runs at fixed points"),
            Requires("every_n_samples", "batch_size"),
        )

    def logs_metric(self, key: str) -> bool:
        """Whether this callback logs the metric `key`, so that validation can check the
        callbacks that read it (order, frequency); False where unknown."""
        return False

    def logged_metrics(self, loss_names: list[str] | None) -> list[str] | None:
        """Every metric key this callback logs, given the names of the trainer's logged
        losses (None: unknown), so that validation can tell a misspelt metric_key; None where
        the config does not tell (a user's kind)."""
        return [] if self.logs_no_metrics else None

    def latest_files(self) -> frozenset[str]:
        """The checkpoint files this callback writes into the rolling `latest` folder, so that
        validation can tell two that would replace each other's."""
        return frozenset()

    def first_due(self) -> tuple[str, int] | None:
        """(its field, the count) of the first point at which this callback acts, in that
        field's unit (epochs, updates or samples), so that validation can tell one that would
        never act before max_*; None for kinds without one."""
        return self.frequency()

    def frequency(self) -> tuple[str, int] | None:
        """(the frequency field given, its n), or None for kinds without one."""
        for name in FREQUENCY_FIELDS:
            value = getattr(self, name)
            if value is not None:
                return name, int(value)
        return None
