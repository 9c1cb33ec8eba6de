"""Test scaffolding for noether projects: tiny models, datasets, a trainer and recorders.

Everything here is real noether-core (ModelBase, BaseTrainer, TrackerBase, callbacks), only
small enough to train on a CPU inside a test. It does not import pytest: use it from any test
runner.

Example:
    >>> from noether.core.testing import RecordingTracker, make_config, make_model, make_trainer
    >>> tracker = RecordingTracker()
    >>> trainer = make_trainer(make_config(max_updates=2), tracker=tracker)
    >>> trainer.train(make_model())
    >>> trainer.update_counter.update
    2
"""

from noether.core.testing.callbacks import (
    HookEvent,
    MetricScript,
    MicroBatchRecord,
    RecordingCallback,
    UpdateRecord,
    WeightRecorder,
)
from noether.core.testing.datasets import (
    FieldsDataset,
    IndexedDataset,
    PairDataset,
    RegressionDataset,
)
from noether.core.testing.harness import CallbackHarness
from noether.core.testing.models import (
    FieldsModel,
    FieldsModelConfig,
    LinearModel,
    LinearModelConfig,
    Marker,
    TwoLayerModel,
    TwoLayerModelConfig,
    make_fields_model,
    make_model,
    make_two_layer_model,
    sgd,
)
from noether.core.testing.ranks import RankFailedError, end_rank, free_port, run_ranks
from noether.core.testing.trackers import RecordingTracker
from noether.core.testing.trainers import (
    STOP_CRITERIA,
    MseTrainer,
    MseTrainerConfig,
    make_config,
    make_trainer,
    with_stop_criterion,
)

__all__ = [
    "STOP_CRITERIA",
    "CallbackHarness",
    "FieldsDataset",
    "FieldsModel",
    "FieldsModelConfig",
    "HookEvent",
    "IndexedDataset",
    "LinearModel",
    "LinearModelConfig",
    "Marker",
    "MetricScript",
    "MicroBatchRecord",
    "MseTrainer",
    "MseTrainerConfig",
    "PairDataset",
    "RankFailedError",
    "RecordingCallback",
    "RecordingTracker",
    "RegressionDataset",
    "TwoLayerModel",
    "TwoLayerModelConfig",
    "UpdateRecord",
    "WeightRecorder",
    "end_rank",
    "free_port",
    "make_config",
    "make_fields_model",
    "make_model",
    "make_trainer",
    "make_two_layer_model",
    "run_ranks",
    "sgd",
    "with_stop_criterion",
]
