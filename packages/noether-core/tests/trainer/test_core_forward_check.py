"""`check_forward_signature`: the model's forward against the keys the trainer passes to it
by name, before the first update."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from noether.config.schemas.callbacks import OfflineLossCallbackConfig
from noether.core.data.container import DataContainer
from noether.core.testing import MseTrainer
from noether.core.testing.datasets import RegressionDataset
from noether.core.testing.trainers import make_config
from noether.core.trainer.base import says_what_train_step_passes
from noether.core.trainer.forward_check import ForwardSignatureError, check_forward_signature
from noether.core.trainer.types import TrainerResult

DATA = DataContainer({"train": RegressionDataset()})  # items x, y, __meta_index


class TakesX(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class NeedsMask(torch.nn.Module):
    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return x * mask


class OptionalMask(torch.nn.Module):
    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return x


class TakesAny(torch.nn.Module):
    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        return next(iter(inputs.values()))


class PositionalOnly(torch.nn.Module):
    def forward(self, x: torch.Tensor, /) -> torch.Tensor:
        return x


def check(model: torch.nn.Module, **fields: Any) -> None:
    check_forward_signature(make_config(**fields), DATA, model)


@pytest.mark.parametrize("model", [TakesX(), OptionalMask(), TakesAny()])
def test_a_forward_that_takes_the_forward_properties_passes(model: torch.nn.Module) -> None:
    check(model)


def test_a_forward_property_the_forward_does_not_take_is_named() -> None:
    with pytest.raises(ForwardSignatureError) as caught:
        check(TakesX(), forward_properties=["x", "noise"])
    assert caught.value.key_path == "trainer.forward_properties"
    line = TakesX.forward.__code__.co_firstlineno
    assert caught.value.message.startswith(
        f"TakesX.forward ({__file__}:{line}) takes no noise (it takes x); the trainer passes "
        "it x, noise (its forward_properties)"
    )


@pytest.mark.parametrize(
    ("model", "problem"),
    [(NeedsMask(), "needs mask"), (PositionalOnly(), "takes no x (it takes no keyword arguments)")],
)
def test_a_forward_parameter_that_is_not_passed_by_name_is_named(
    model: torch.nn.Module, problem: str
) -> None:
    with pytest.raises(ForwardSignatureError) as caught:
        check(model)
    assert f".forward ({__file__}:" in caught.value.message
    assert f") {problem}; the trainer passes it x (" in caught.value.message


def test_without_forward_properties_the_items_keys_but_targets_and_metadata_are_checked() -> None:
    check(TakesX(), forward_properties=[])  # x: y is the target, __meta_index never passed
    with pytest.raises(ForwardSignatureError) as caught:
        check(TakesX(), forward_properties=[], target_properties=[])
    assert "takes no y (it takes x); the trainer passes it x, y (every key of the train " in (
        caught.value.message
    )


def test_an_evaluation_only_run_without_evaluations_is_not_checked() -> None:
    check(NeedsMask(), max_epochs=0)


class WithExtra(RegressionDataset):
    """Validation items with a key that the train items lack."""

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {**super().__getitem__(index), "extra": torch.zeros(7)}


def test_the_items_of_a_dataset_an_evaluation_runs_are_checked_too() -> None:
    """The forward got `extra` first at the end of the first epoch, in the evaluation."""
    data = DataContainer({"train": RegressionDataset(), "val": WithExtra()})
    evaluate = OfflineLossCallbackConfig(dataset_key="val", every_n_epochs=1)
    for max_epochs in (2, 0):  # an evaluation-only run too
        config = make_config(forward_properties=[], callbacks=[evaluate], max_epochs=max_epochs)
        with pytest.raises(ForwardSignatureError) as caught:
            check_forward_signature(config, data, TakesX())
        assert "takes no extra (it takes x); the trainer passes it x, extra (every key of the " in (
            caught.value.message
        )
        assert "val items that is not a target" in caught.value.message
    same = DataContainer({"train": RegressionDataset(), "val": RegressionDataset()})
    check_forward_signature(
        make_config(forward_properties=[], callbacks=[evaluate]), same, TakesX()
    )


class OwnStep(MseTrainer):
    def train_step(self, batch: dict[str, torch.Tensor], model: torch.nn.Module) -> TrainerResult:
        loss = torch.nn.functional.mse_loss(model(batch["x"], batch["x"] > 0), batch["y"])
        return TrainerResult(total_loss=loss)


class OwnStepThatSays(OwnStep):
    @classmethod
    def forward_keys(cls, config: Any, item_keys: Any) -> list[str] | None:
        return ["x", "mask"]


def test_only_a_trainer_that_runs_the_base_train_step_or_says_what_its_own_passes_is_checked() -> (
    None
):
    config = make_config()
    assert MseTrainer.forward_keys(config, ["x", "y"]) == ["x"]
    assert OwnStep.forward_keys(config, ["x", "y"]) is None
    assert OwnStepThatSays.forward_keys(config, ["x", "y"]) == ["x", "mask"]

    class Later(OwnStepThatSays):  # its own train_step again, saying nothing of it
        def train_step(self, batch: Any, model: Any) -> TrainerResult:
            return super().train_step(batch, model)

    assert [says_what_train_step_passes(cls) for cls in (OwnStep, OwnStepThatSays, Later)] == [
        False,
        True,
        False,
    ]
