"""The seed's import paths name the loop's classes from noether-core."""

from __future__ import annotations

import noether.config
import noether.core.trainer.base
import noether.core.trainer.types


def test_seed_import_paths_reexport_the_core_classes():
    from noether.training.trainers import (
        BaseTrainer,
        BaseTrainerConfig,
        TrainerResult,
        WeightedLossTrainer,
    )
    from noether.training.trainers.types import LossResult
    from noether.training.trainers.types import TrainerResult as TypesTrainerResult

    assert BaseTrainer is noether.core.trainer.base.BaseTrainer
    assert BaseTrainerConfig is noether.config.BaseTrainerConfig
    assert TrainerResult is TypesTrainerResult is noether.core.trainer.types.TrainerResult
    assert LossResult is noether.core.trainer.types.LossResult
    assert issubclass(WeightedLossTrainer, BaseTrainer)


def test_weighted_loss_schema_targets_the_trainer():
    from noether.training.trainers import WeightedLossTrainer

    assert noether.config.WeightedLossTrainerConfig.load_target() is WeightedLossTrainer
