"""Root schema of callbacks; concrete kinds live beside it in `callbacks.py`."""

from typing import ClassVar

from pydantic import Field, model_validator

from noether.config.registry import RegistryBase


class CallbackConfig(RegistryBase):
    """A callback that runs periodically: every n epochs, updates or samples (exactly one)."""

    entry_point_group: ClassVar[str] = "noether.callbacks"
    periodic: ClassVar[bool] = True
    """False for kinds that run at fixed points (e.g. after training) and take no frequency."""

    every_n_epochs: int | None = Field(default=None, ge=1)
    """Run after every n-th epoch."""
    every_n_updates: int | None = Field(default=None, ge=1)
    """Run after every n-th optimizer update."""
    every_n_samples: int | None = Field(default=None, ge=1)
    """Run whenever the number of training samples seen crosses a multiple of n."""
    batch_size: int | None = Field(default=None, ge=1)
    """Batch size for callbacks that iterate a dataset; required with every_n_samples."""

    @model_validator(mode="after")
    def validate_frequency(self) -> "CallbackConfig":
        """Exactly one frequency for periodic kinds; batch_size when counting samples."""
        given = [
            name
            for name in ("every_n_epochs", "every_n_updates", "every_n_samples")
            if getattr(self, name) is not None
        ]
        if self.periodic and len(given) != 1:
            raise ValueError(
                "set exactly one of every_n_epochs, every_n_updates, every_n_samples"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if not self.periodic and given:
            raise ValueError(f"kind {self.kind!r} runs at fixed points and takes no {given[0]}")
        if self.every_n_samples is not None and self.batch_size is None:
            raise ValueError("batch_size is required with every_n_samples")
        return self
