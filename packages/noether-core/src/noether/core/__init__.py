"""noether-core: the training loop (BaseTrainer), models, data, callbacks and checkpoints.

Names are imported on first access, so `import noether.core` stays cheap and submodules can
import each other without cycles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from noether.config.lazy_exports import lazy_exports

_EXPORTS = {
    "BaseTrainer": "noether.core.trainer.base",
    "TrainerResult": "noether.core.trainer.types",
    "LossResult": "noether.core.trainer.types",
    "EarlyStopIteration": "noether.core.trainer.types",
    "NonFiniteLossError": "noether.core.trainer.types",
    "TrainStepError": "noether.core.trainer.types",
    "Stopwatch": "noether.core.stopwatch",
    "load_model": "noether.core.trained",
    "ModelBase": "noether.core.models.base",
    "DataContainer": "noether.core.data.container",
    "CallbackBase": "noether.core.callbacks.base",
    "CallbackContext": "noether.core.callbacks.base",
    "PeriodicCallback": "noether.core.callbacks.base",
    "PeriodicDataIteratorCallback": "noether.core.callbacks.base",
}

__all__ = [
    "BaseTrainer",
    "CallbackBase",
    "CallbackContext",
    "DataContainer",
    "EarlyStopIteration",
    "LossResult",
    "ModelBase",
    "NonFiniteLossError",
    "PeriodicCallback",
    "PeriodicDataIteratorCallback",
    "Stopwatch",
    "TrainStepError",
    "TrainerResult",
    "load_model",
]

if TYPE_CHECKING:
    from noether.core.callbacks.base import (
        CallbackBase,
        CallbackContext,
        PeriodicCallback,
        PeriodicDataIteratorCallback,
    )
    from noether.core.data.container import DataContainer
    from noether.core.models.base import ModelBase
    from noether.core.stopwatch import Stopwatch
    from noether.core.trained import load_model
    from noether.core.trainer.base import BaseTrainer
    from noether.core.trainer.types import (
        EarlyStopIteration,
        LossResult,
        NonFiniteLossError,
        TrainerResult,
        TrainStepError,
    )


if not TYPE_CHECKING:
    # Hidden from type checkers: they see the imports above, so a name that is not
    # exported is an error for them rather than a silent Any.
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
