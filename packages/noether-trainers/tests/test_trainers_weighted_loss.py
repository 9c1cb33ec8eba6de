"""WeightedLossTrainer: weighted sum, per-field logging (weighted under the field's name,
unweighted as `<field>_unweighted`), clear errors and the seed's form."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from noether.config import WeightedLossTrainerConfig
from noether.config.schemas.tracker import JsonlTrackerConfig
from noether.core import testing
from noether.core.runs import PathProvider
from noether.core.testing import FieldsDataset, make_fields_model, with_stop_criterion
from noether.core.trackers.jsonl import JsonlTracker, read_jsonl
from noether.training.trainers import WeightedLossTrainer, losses
from noether.training.trainers.losses import UnknownLossError
from noether.training.trainers.weighted_loss import WeightedLossError


def make_config(**overrides: Any) -> WeightedLossTrainerConfig:
    """Pressure and velocity weighted 1 and 0.5, batches of 8, `x` to the model, one epoch."""
    values: dict[str, Any] = {
        "field_weights": {"pressure": 1.0, "velocity": 0.5},
        "effective_batch_size": 8,
        "forward_properties": ["x"],
        "add_default_callbacks": False,
        **overrides,
    }
    return WeightedLossTrainerConfig(**with_stop_criterion(values, max_epochs=1))


def make_trainer(
    config: WeightedLossTrainerConfig,
    dataset: FieldsDataset | None = None,
    path_provider: PathProvider | None = None,
) -> WeightedLossTrainer:
    """A trainer with a jsonl tracker that writes into the path provider's run folder."""
    tracker = JsonlTracker(JsonlTrackerConfig())
    if path_provider is not None:
        tracker.start(path_provider, {})
    datasets = {"train": dataset if dataset is not None else FieldsDataset()}
    return testing.make_trainer(config, datasets, tracker, path_provider, WeightedLossTrainer)


def _batch(size: int = 8, drop: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    dataset = FieldsDataset(size, drop=drop)
    items = [dataset[i] for i in range(size)]
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def test_total_is_the_weighted_sum_and_fields_are_logged_weighted_and_unweighted():
    trainer = make_trainer(make_config(field_weights={"pressure": 2.0, "velocity": 0.5}))
    model, batch = make_fields_model(), _batch()
    result = trainer.train_step(batch, model)
    with torch.no_grad():
        output = model(batch["x"])
    pressure = F.mse_loss(output["pressure"], batch["pressure_target"])
    velocity = F.mse_loss(output["velocity"], batch["velocity_target"])
    assert torch.allclose(result.losses_to_log["pressure"], 2.0 * pressure)
    assert torch.allclose(result.losses_to_log["velocity"], 0.5 * velocity)
    assert torch.allclose(result.losses_to_log["pressure_unweighted"], pressure)
    assert torch.allclose(result.losses_to_log["velocity_unweighted"], velocity)
    assert torch.allclose(result.total_loss, 2.0 * pressure + 0.5 * velocity)
    assert torch.allclose(result.losses_to_log["total"], result.total_loss)
    assert result.total_loss.requires_grad
    # loss_compute gives the weighted terms, which BaseTrainer's generic path would sum
    terms = trainer.loss_compute(output, {k: batch[k] for k in trainer.target_properties})
    assert torch.allclose(terms["pressure"], 2.0 * pressure)
    assert torch.allclose(terms["velocity"], 0.5 * velocity)


def test_loss_items_list_fields_and_weights_in_order():
    trainer = make_trainer(make_config(field_weights={"velocity": 0.25, "pressure": 3.0}))
    assert trainer.loss_items == [("velocity", 0.25), ("pressure", 3.0)]
    assert trainer.target_properties == ["velocity_target", "pressure_target"]


def test_zero_weight_field_is_logged_but_not_trained():
    trainer = make_trainer(make_config(field_weights={"pressure": 1.0, "velocity": 0.0}))
    model, batch = make_fields_model(), _batch()
    result = trainer.train_step(batch, model)
    assert "velocity" not in result.losses_to_log  # weighted: nothing
    assert result.losses_to_log["velocity_unweighted"] > 0
    assert torch.allclose(result.total_loss, result.losses_to_log["pressure"])
    result.total_loss.backward()
    assert model.velocity.weight.grad is None


def test_weighted_field_losses_sum_to_the_logged_total(path_provider):
    config = make_config(
        max_epochs=3,
        add_default_callbacks=True,
        log_every_n_epochs=1,
        track_every_n_epochs=1,
        field_weights={"pressure": 2.0, "velocity": 0.5},
    )
    trainer = make_trainer(config, FieldsDataset(32), path_provider)
    trainer.train(make_fields_model())
    trainer.tracker.close()
    rows = [
        r for r in read_jsonl(path_provider.run_dir / "metrics.jsonl") if "loss/online/total" in r
    ]
    assert len(rows) == 3
    for row in rows:
        weighted = row["loss/online/pressure"] + row["loss/online/velocity"]
        assert row["loss/online/total"] == pytest.approx(weighted, rel=1e-5)
        unweighted = (
            2.0 * row["loss/online/pressure_unweighted"]
            + 0.5 * row["loss/online/velocity_unweighted"]
        )
        assert row["loss/online/total"] == pytest.approx(unweighted, rel=1e-5)
    assert rows[-1]["loss/online/total"] < rows[0]["loss/online/total"]


def test_training_reduces_every_field_loss():
    dataset = FieldsDataset(32)
    config = make_config(max_epochs=20, field_weights={"pressure": 1.0, "velocity": 1.0})
    trainer = make_trainer(config, dataset)
    model = make_fields_model(lr=0.2)
    batch = _batch(32)
    before = trainer.train_step(batch, model).losses_to_log
    trainer.train(model)
    with torch.no_grad():
        after = trainer.train_step(batch, model).losses_to_log
    for field in ("pressure", "velocity"):
        assert after[field] < 0.1 * before[field]


def test_seed_python_form_trains_with_l1():
    trainer_params = dict(field_weights={"pressure": 1.0}, loss_fn="l1")
    config = WeightedLossTrainerConfig(
        **trainer_params, max_epochs=2, effective_batch_size=8, forward_properties=["x"]
    )
    assert config.kind == "weighted_loss"
    single_field = ("velocity_target",)
    trainer = make_trainer(config, FieldsDataset(drop=single_field))
    assert isinstance(trainer, WeightedLossTrainer)
    assert trainer.loss_fn is losses.l1
    assert trainer.loss_items == [("pressure", 1.0)]
    model, batch = make_fields_model(fields=["pressure"]), _batch(drop=single_field)
    expected = F.l1_loss(model(batch["x"])["pressure"], batch["pressure_target"])
    assert torch.allclose(trainer.train_step(batch, model).total_loss, expected)
    weights = model.pressure.weight.detach().clone()
    trainer.train(model)
    assert trainer.update_counter.update == 2 * 4
    assert not torch.equal(weights, model.pressure.weight)


def test_default_loss_is_mse():
    trainer = make_trainer(make_config())
    assert trainer.loss_fn is losses.mse


def test_without_forward_properties_every_non_target_key_goes_to_the_model():
    trainer = make_trainer(make_config(forward_properties=[]))
    result = trainer.train_step(_batch(), make_fields_model())
    assert set(result.losses_to_log) == {
        "pressure",
        "velocity",
        "pressure_unweighted",
        "velocity_unweighted",
        "total",
    }


def test_dotted_path_loss_is_used_for_every_field(tmp_path, monkeypatch):
    (tmp_path / "trainers_test_custom_loss.py").write_text(
        "def summed_abs(input, target):\n    return (input - target).abs().sum()\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = make_config(loss_fn="trainers_test_custom_loss:summed_abs")
    trainer = make_trainer(config)
    model, batch = make_fields_model(), _batch()
    result = trainer.train_step(batch, model)
    expected = (model(batch["x"])["pressure"] - batch["pressure_target"]).abs().sum()
    assert torch.allclose(result.losses_to_log["pressure"], expected)


def test_entry_point_loss_trains(fake_distributions):
    fake_distributions(
        "trainers-test-ep-trainer",
        {"trainers_test_double_mse": "trainers_test_ep_trainer:double_mse"},
        {
            "trainers_test_ep_trainer": (
                "import torch\n"
                "def double_mse(input, target):\n"
                "    return 2.0 * torch.nn.functional.mse_loss(input, target)\n"
            )
        },
    )
    trainer = make_trainer(make_config(loss_fn="trainers_test_double_mse", max_epochs=2))
    model, batch = make_fields_model(), _batch()
    result = trainer.train_step(batch, model)
    expected = 2.0 * F.mse_loss(model(batch["x"])["pressure"], batch["pressure_target"])
    assert torch.allclose(result.losses_to_log["pressure"], expected)
    trainer.train(model)
    assert trainer.update_counter.update == 8


# ---------------------------------------------------------------------- clear errors
def test_unknown_loss_path_fails_when_the_trainer_is_built():
    # model_copy skips the schema's check of the path: the trainer still refuses it
    config = make_config().model_copy(update={"loss_fn": "no_such_project.losses:l9"})
    with pytest.raises(UnknownLossError, match=r"cannot import loss 'no_such_project\.losses:l9'"):
        make_trainer(config)


def test_a_field_clashing_with_an_unweighted_name_is_refused():
    clashing = {"pressure": 1.0, "pressure_unweighted": 1.0}
    with pytest.raises(ValidationError, match="'pressure_unweighted', the logged name"):
        make_config(field_weights=clashing)
    config = make_config().model_copy(update={"field_weights": clashing})  # not validated
    with pytest.raises(WeightedLossError, match="'pressure_unweighted', the logged name"):
        make_trainer(config)


def test_unknown_loss_name_fails_when_the_trainer_is_built():
    # model_construct skips the schema's validator: the trainer still refuses the name
    config = make_config().model_copy(update={"loss_fn": "msa"})
    with pytest.raises(UnknownLossError) as info:
        make_trainer(config)
    assert "unknown loss 'msa'" in str(info.value)
    assert "mse" in str(info.value)


def test_missing_model_output_field_names_it_and_what_the_model_returned():
    trainer = make_trainer(make_config())
    with pytest.raises(WeightedLossError) as info:
        trainer.train(make_fields_model(fields=["pressure"]))
    message = str(info.value)
    assert "no field 'velocity'" in message
    assert "field_weights: pressure, velocity" in message
    assert "the model returned: pressure" in message
    assert info.value.key_path == "trainer.field_weights.velocity"  # noether-train adds file:line
    assert trainer.update_counter.update == 0


def test_model_output_that_is_not_a_dict_is_refused():
    class TensorModel(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    trainer = make_trainer(make_config())
    with pytest.raises(WeightedLossError, match=r"return a dict of tensors .* got Tensor"):
        trainer.train_step(_batch(), TensorModel())


def test_batch_without_a_target_names_the_key_and_the_batch_keys():
    trainer = make_trainer(make_config(), FieldsDataset(drop=("velocity_target",)))
    with pytest.raises(WeightedLossError) as info:
        trainer.train(make_fields_model())
    message = str(info.value)
    assert "no 'velocity_target', the target of field 'velocity'" in message
    assert "batch keys: x, pressure_target" in message
    assert trainer.update_counter.update == 0


class ListTargets(FieldsDataset):
    """Items whose pressure target is a Python list (batched as a list of tensors)."""

    def __getitem__(self, index):
        item = super().__getitem__(index)
        return {**item, "pressure_target": item["pressure_target"].tolist()}


def test_a_target_that_batches_to_no_tensor_is_named():
    """It failed in the trainer's own line: `'list' object has no attribute 'shape'`."""
    trainer = make_trainer(make_config(), ListTargets())
    with pytest.raises(WeightedLossError) as info:
        trainer.train(make_fields_model())
    assert str(info.value) == (
        "the batch's 'pressure_target' (the target of field 'pressure') is a list, not a "
        "tensor: return a tensor at 'pressure_target' from the dataset's items (a list or "
        "tuple in each item is batched as a list)"
    )


def test_batch_without_a_forward_key_names_it():
    trainer = make_trainer(make_config(forward_properties=["x", "mesh"]))
    with pytest.raises(WeightedLossError, match=r"the batch has no mesh .* batch keys: x, "):
        trainer.train_step(_batch(), make_fields_model())


def test_mismatched_shapes_name_both_shapes():
    trainer = make_trainer(make_config(field_weights={"pressure": 1.0}))
    batch = _batch(drop=("velocity_target",))
    batch["pressure_target"] = batch["pressure_target"][..., None]
    with pytest.raises(WeightedLossError) as info:
        trainer.train_step(batch, make_fields_model())
    message = str(info.value)
    assert "field 'pressure'" in message
    assert "(8, 4)" in message and "'pressure_target' has shape (8, 4, 1)" in message


def test_a_loss_that_does_not_reduce_to_a_scalar_is_named(tmp_path, monkeypatch):
    (tmp_path / "trainers_test_elementwise.py").write_text(
        "def squared(input, target):\n    return (input - target) ** 2\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config = make_config(loss_fn="trainers_test_elementwise:squared")
    trainer = make_trainer(config)
    with pytest.raises(WeightedLossError) as info:
        trainer.train_step(_batch(), make_fields_model())
    message = str(info.value)
    assert "'trainers_test_elementwise:squared' returned (8, 4) for field 'pressure'" in message
    assert "scalar" in message


def test_a_field_named_total_is_refused_by_validation_and_by_the_trainer():
    with pytest.raises(ValidationError, match="may not name a field 'total'"):
        make_config(field_weights={"total": 1.0})
    unvalidated = make_config().model_copy(update={"field_weights": {"total": 1.0}})
    with pytest.raises(WeightedLossError, match="may not name a field 'total'"):
        make_trainer(unvalidated)


def test_given_target_properties_must_hold_every_field_target():
    with pytest.raises(ValidationError, match="lacks velocity_target"):
        make_config(target_properties=["pressure_target"])
    config = make_config().model_copy(update={"target_properties": ["pressure_target"]})
    with pytest.raises(WeightedLossError, match="lacks velocity_target"):
        make_trainer(config)  # a config that skipped validation


def test_given_target_properties_with_every_target_are_kept():
    config = make_config(target_properties=["velocity_target", "pressure_target"])
    trainer = make_trainer(config)
    assert trainer.target_properties == ["velocity_target", "pressure_target"]


def test_item_keys_name_each_fields_target_at_its_weight():
    """What `noether-train` checks in item 0 before the model is built, by config field."""
    assert WeightedLossTrainer.item_keys(make_config()) == {
        "forward_properties": ["x"],
        "field_weights.pressure": ["pressure_target"],
        "field_weights.velocity": ["velocity_target"],
    }
    given = make_config(target_properties=["pressure_target", "velocity_target", "mask"])
    assert WeightedLossTrainer.item_keys(given) == {
        "forward_properties": ["x"],
        "target_properties": ["pressure_target", "velocity_target", "mask"],
    }


def test_forward_keys_are_the_forward_properties_or_every_key_but_the_field_targets():
    """What `noether-train` checks the model's forward against before the first update."""
    keys = ["x", "mask", "pressure_target", "velocity_target"]
    assert WeightedLossTrainer.forward_keys(make_config(), keys) == ["x"]
    assert WeightedLossTrainer.forward_keys(make_config(forward_properties=[]), keys) == [
        "x",
        "mask",
    ]
