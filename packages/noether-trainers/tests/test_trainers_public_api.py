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


def test_weighted_loss_trainer_takes_the_arguments_of_base_trainer_by_name():
    """Typed one by one (not `*args, **kwargs`), so that a type checker and `inspect` see
    what it takes: a misspelt keyword is an error in the user's editor."""
    import inspect

    from noether.training.trainers import BaseTrainer, WeightedLossTrainer

    ours = list(inspect.signature(WeightedLossTrainer.__init__).parameters.values())
    base = list(inspect.signature(BaseTrainer.__init__).parameters.values())
    assert [p.kind for p in ours] == [p.kind for p in base]
    assert [(p.name, p.default) for p in ours[2:]] == [(p.name, p.default) for p in base[2:]]
    assert ours[1].name == "trainer_config"
    assert ours[1].annotation == "WeightedLossTrainerConfig"
