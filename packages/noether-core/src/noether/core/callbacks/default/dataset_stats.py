"""Logs the size of every dataset once, so a run's log says what it trained and evaluated on."""

from __future__ import annotations

from noether.core.callbacks.base import CallbackBase


class DatasetStatsCallback(CallbackBase):
    """Before training: one log line per dataset and a `dataset/<key>/size` summary value."""

    def before_training(self) -> None:
        container = self.data_container
        if container is None:
            return
        keys: list[str] = list(container.keys())
        for key in keys:
            dataset = container.get_dataset(key)
            try:
                size = len(dataset)  # type: ignore[arg-type]
            except TypeError:  # iterable datasets may not know their length
                self.logger.info("dataset %r: %s (size unknown)", key, type(dataset).__name__)
                continue
            self.logger.info("dataset %r: %d samples (%s)", key, size, type(dataset).__name__)
            if self.context.log_writer is not None:
                self.context.log_writer.add_summary(f"dataset/{key}/size", size)
