"""What loss_compute may return, and how train_step sums it into a TrainerResult."""

from __future__ import annotations

import pytest
import torch

from noether.core.testing import make_config, make_model, make_trainer
from noether.core.trainer.base import BaseTrainer
from noether.core.trainer.types import TrainerResult, to_trainer_result


def test_tensor_dict_list_and_tuple_forms():
    a, b = torch.tensor(1.5), torch.tensor(2.0)
    single = to_trainer_result(a)
    assert single.total_loss is a
    assert single.losses_to_log == {"total": a}
    named = to_trainer_result({"p": a, "v": b})
    assert named.total_loss.item() == 3.5
    assert set(named.losses_to_log) == {"p", "v"}
    listed = to_trainer_result([a, b, b])
    assert listed.total_loss.item() == 5.5
    assert list(listed.losses_to_log) == ["loss_0", "loss_1", "loss_2"]
    with_outputs = to_trainer_result(({"p": a}, {"pred": b}))
    assert with_outputs.total_loss.item() == 1.5
    assert with_outputs.additional_outputs == {"pred": b}


def test_empty_and_wrong_results_are_clear_errors():
    with pytest.raises(ValueError, match="returned no losses"):
        to_trainer_result({})
    with pytest.raises(ValueError, match="returned no losses"):
        to_trainer_result(([], {}))
    with pytest.raises(TypeError, match="returned float; expected a tensor"):
        to_trainer_result(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"\(losses, additional_outputs: dict\)"):
        to_trainer_result((torch.tensor(1.0), torch.tensor(2.0)))  # type: ignore[arg-type]


def test_train_step_calls_the_model_with_forward_properties_and_loss_with_targets():
    seen = {}

    class DictLossTrainer(BaseTrainer):
        def loss_compute(self, forward_output, targets):
            seen["targets"] = sorted(targets)
            return {"a": forward_output.mean(), "b": targets["y"].mean()}, {"out": forward_output}

    trainer = make_trainer(make_config(), trainer_cls=DictLossTrainer)
    model = make_model()
    batch = {"x": torch.ones(3, 4), "y": torch.full((3, 1), 2.0)}
    result = trainer.train_step(batch, model)
    assert isinstance(result, TrainerResult)
    assert seen["targets"] == ["y"]
    expected = model(batch["x"]).mean() + 2.0
    assert torch.allclose(result.total_loss, expected)
    assert result.additional_outputs["out"].shape == (3, 1)


def test_training_with_a_loss_compute_that_returns_nothing_fails_clearly():
    class EmptyTrainer(BaseTrainer):
        def loss_compute(self, forward_output, targets):
            return {}

    trainer = make_trainer(make_config(max_updates=2), trainer_cls=EmptyTrainer)
    with pytest.raises(ValueError, match="loss_compute returned no losses"):
        trainer.train(make_model())
