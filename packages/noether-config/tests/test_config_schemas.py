"""Cross-field validators of the built-in schemas and their JSON Schema / field docs."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ValidationError

from noether.config import (
    CallbackConfig,
    ExperimentConfig,
    RegistryBase,
    WeightedLossTrainerConfig,
)
from noether.config import schemas as builtin
from noether.config.kind_json_schema import DOTTED_KIND_PATTERN
from noether.config.schemas import (
    LinearWarmupCosineDecayScheduleConfig,
    OptimizerConfig,
    SGDConfig,
)
from noether.config.schemas.trainer import NONE_MEANS_DEFAULT


class EveryCallbackConfig(CallbackConfig):
    """A periodic test callback that reads a dataset."""

    kind: str = "test_every_callback"
    dataset_key: str | None = None
    """Dataset to read."""


class AtEndCallbackConfig(CallbackConfig):
    """A non-periodic test callback."""

    kind: str = "test_at_end_callback"
    periodic: ClassVar[bool] = False


def trainer(**changes: Any) -> dict[str, Any]:
    data = {
        "kind": "weighted_loss",
        "max_epochs": 1,
        "effective_batch_size": 8,
        "field_weights": {"p": 1.0},
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def trainer_error(**changes: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        WeightedLossTrainerConfig.model_validate(trainer(**changes))
    return "; ".join(e["msg"] for e in caught.value.errors())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"max_epochs": None}, "set exactly one of max_epochs, max_updates, max_samples"),
        ({"max_updates": 3}, "(got max_epochs, max_updates)"),
        (
            {"max_epochs": None, "max_samples": 5, "start_at_epoch": 1},
            "max_epochs is required with start_at_epoch",
        ),
        ({"max_epochs": 2, "start_at_epoch": 3}, "start_at_epoch (3) is after max_epochs (2)"),
        (
            {"log_every_n_epochs": 1, "log_every_n_updates": 2},
            "at most one of log_every_n_epochs, log_every_n_updates",
        ),
        (
            {"track_every_n_samples": 1, "track_every_n_epochs": 2},
            "at most one of track_every_n_epochs, track_every_n_updates",
        ),
        ({"forward_properties": ["a", "b"], "target_properties": ["b"]}, "both forward and target"),
        (
            {"target_properties": ["p_target", "__meta_id"]},
            "__meta_id: keys starting with __meta are metadata, which each batch passes to "
            "neither the model nor the loss",
        ),
        ({"forward_properties": ["x", "__meta_file"]}, "__meta_file: keys starting with __meta"),
        ({"precision": "fp8"}, "Input should be"),
        ({"field_weights": {}}, "at least 1 item"),
        ({"field_weights": {"p": -1.0}}, "a weight must be >= 0"),
        ({"field_weights": {"p": 0.0}}, "at least one field weight must be > 0"),
        ({"field_weights": {"p": 1.0, "v": float("nan")}}, "a weight must be a finite number"),
        ({"field_weights": {"p": float("inf")}}, "a weight must be a finite number"),
        ({"field_weights": {"total": 1.0}}, "may not name a field 'total'"),
        (
            {"field_weights": {"p": 1.0, "p_unweighted": 1.0}},
            "names both 'p' and 'p_unweighted'",
        ),
        (
            {"field_weights": {"p": 1.0, "v": 1.0}, "target_properties": ["p_target"]},
            "target_properties (p_target) lacks v_target, the target of a weighted field",
        ),
        (
            {"compile_options": {"mode": "default"}},
            "compile_options is set but use_torch_compile is not true",
        ),
        (
            {"use_torch_compile": True, "compile_options": {"mode": "fast"}},
            "Input should be 'default', 'reduce-overhead', 'max-autotune' or "
            "'max-autotune-no-cudagraphs'",
        ),
        (
            {"use_torch_compile": True, "compile_options": {"backend": "eager"}},
            "Extra inputs are not permitted",
        ),
        (
            {"use_torch_compile": True, "compile_options": {"dynamic": "sometimes"}},
            "Input should be a valid boolean",
        ),
        (
            {"use_torch_compile": True, "compile_options": {"fullgraph": None}},
            "Input should be a valid boolean",
        ),
    ],
)
def test_trainer_rejects(changes: dict[str, Any], message: str) -> None:
    assert message in trainer_error(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"max_epochs": 0},  # evaluation only
        {"max_epochs": None, "max_updates": 0},
        {"max_batch_size": 4},
        {"max_batch_size": 3},  # 8 in micro-batches of 3 + 3 + 2
        {"max_batch_size": 3, "disable_gradient_accumulation": True},
        {"max_batch_size": 16},  # larger than the batch: no accumulation needed
        {"log_every_n_epochs": 1, "track_every_n_updates": 5, "precision": "bf16"},
        {"max_epochs": 4, "start_at_epoch": 4},
        {"use_torch_compile": True},
        {"use_torch_compile": True, "compile_options": {}},
        {"use_torch_compile": True, "compile_options": {"mode": "reduce-overhead"}},
        {"use_torch_compile": True, "compile_options": {"mode": "max-autotune", "dynamic": False}},
        {
            "use_torch_compile": True,
            "compile_options": {
                "mode": "max-autotune-no-cudagraphs",
                "dynamic": None,
                "fullgraph": True,
            },
        },
    ],
)
def test_trainer_accepts(changes: dict[str, Any]) -> None:
    WeightedLossTrainerConfig.model_validate(trainer(**changes))


def test_unknown_loss_lists_known_losses_closest_first() -> None:
    message = trainer_error(loss_fn="rel_l3")
    assert message.startswith("Value error, unknown loss 'rel_l3'; known losses: rel_l2, ")
    assert {"mse", "l1", "huber"} <= set(message.split("known losses: ")[1].split(", "))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "set exactly one of every_n_epochs, every_n_updates, every_n_samples"),
        ({"every_n_epochs": 1, "every_n_updates": 1}, "(got every_n_epochs, every_n_updates)"),
        ({"every_n_samples": 64}, "batch_size is required with every_n_samples"),
        ({"every_n_epochs": 0}, "greater than or equal to 1"),
    ],
)
def test_periodic_callback_rejects(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EveryCallbackConfig.model_validate({"kind": "test_every_callback", **data})


def test_callback_frequencies_and_fixed_point_kinds() -> None:
    ok = EveryCallbackConfig.model_validate({"every_n_samples": 64, "batch_size": 8})
    assert ok.every_n_samples == 64
    AtEndCallbackConfig.model_validate({})
    with pytest.raises(ValidationError, match="runs at fixed points and takes no every_n_epochs"):
        AtEndCallbackConfig.model_validate({"every_n_epochs": 1})


def experiment(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "exp",
        "datasets": {"train": {"kind": "noether.config.schemas.dataset:DatasetConfig"}},
        "model": {"kind": "noether.config.schemas.model:ModelConfig"},
        "trainer": trainer(),
    }
    data.update(changes)
    return data


def test_experiment_needs_train_dataset_unless_evaluating() -> None:
    with pytest.raises(ValidationError, match=r"datasets\.train: required to train"):
        ExperimentConfig.model_validate(experiment(datasets={}))
    ExperimentConfig.model_validate(experiment(datasets={}, trainer=trainer(max_epochs=0)))


def test_callbacks_may_only_name_existing_datasets() -> None:
    callback = {"kind": "test_every_callback", "every_n_epochs": 1, "dataset_key": "test"}
    with pytest.raises(ValidationError, match=r"no dataset 'test' \(datasets: train\)"):
        ExperimentConfig.model_validate(experiment(trainer=trainer(callbacks=[callback])))
    callback["dataset_key"] = "train"
    config = ExperimentConfig.model_validate(experiment(trainer=trainer(callbacks=[callback])))
    assert isinstance(config.trainer.callbacks[0], EveryCallbackConfig)


def test_an_ema_factor_needs_an_ema_callback_with_that_factor() -> None:
    evaluate = {"kind": "offline_loss", "every_n_epochs": 1, "dataset_key": "train"}
    ema = {"kind": "ema", "every_n_epochs": 1, "target_factors": [0.99]}
    with pytest.raises(ValidationError, match=r"callbacks\.0\.ema_factor: no ema callback .* 0\.9"):
        ExperimentConfig.model_validate(
            experiment(trainer=trainer(callbacks=[{**evaluate, "ema_factor": 0.9}]))
        )
    with pytest.raises(ValidationError, match=r"callbacks\.1\.ema_factor: .*target_factors: 0\.99"):
        ExperimentConfig.model_validate(
            experiment(trainer=trainer(callbacks=[ema, {**evaluate, "ema_factor": 0.9}]))
        )
    ema["target_factors"] = [0.99, 0.9]
    ExperimentConfig.model_validate(
        experiment(trainer=trainer(callbacks=[ema, {**evaluate, "ema_factor": 0.9}, evaluate]))
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "a b"}, "pattern"),
        ({"name": ".."}, "pattern"),  # <output_path>/../<run_id>: outside output_path
        ({"name": ".hidden"}, "pattern"),
        ({"name": "x" * 256}, "at most 255 characters"),  # a file system's longest name
        ({"device": "gpu"}, "pattern"),
        ({"num_threads": 3_000_000_000}, "less than or equal to 2147483647"),  # torch: a C int
    ],
)
def test_experiment_name_device_and_threads_are_checked(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        ExperimentConfig.model_validate(experiment(**changes))


def test_experiment_defaults_to_jsonl_tracker_and_accepts_cuda_index() -> None:
    config = ExperimentConfig.model_validate(experiment(device="cuda:1"))
    assert config.tracker.kind == "jsonl"


def test_optimizer_validators() -> None:
    with pytest.raises(ValidationError, match="lr_scale values must be >= 0"):
        OptimizerConfig.model_validate({"kind": "x", "lr": 1.0, "lr_scale": {"head": -1.0}})
    with pytest.raises(ValidationError, match="nesterov requires momentum > 0"):
        SGDConfig.model_validate({"lr": 0.1, "nesterov": True})
    assert SGDConfig.model_validate({"lr": 0.1, "nesterov": True, "momentum": 0.9}).nesterov
    with pytest.raises(ValidationError, match="greater than 0"):
        SGDConfig.model_validate({"lr": 0})


def test_warmup_is_in_updates_or_fraction_not_both() -> None:
    with pytest.raises(ValidationError, match="set warmup_updates or warmup_percent, not both"):
        LinearWarmupCosineDecayScheduleConfig.model_validate(
            {"warmup_updates": 10, "warmup_percent": 0.1}
        )
    schedule = LinearWarmupCosineDecayScheduleConfig.model_validate({"warmup_percent": 0.1})
    assert schedule.kind == "linear_warmup_cosine_decay"


def builtin_schema_classes() -> list[type[BaseModel]]:
    return [
        getattr(builtin, name)
        for name in builtin.__all__
        if isinstance(getattr(builtin, name), type)
        and issubclass(getattr(builtin, name), BaseModel)
    ]


@pytest.mark.parametrize("cls", builtin_schema_classes(), ids=lambda cls: cls.__name__)
def test_every_field_is_documented(cls: type[BaseModel]) -> None:
    undocumented = [name for name, field in cls.model_fields.items() if not field.description]
    assert undocumented == []
    assert cls.model_config.get("extra") == "forbid"


def test_json_schema_dispatches_on_kind_to_each_class() -> None:
    schema = ExperimentConfig.model_json_schema()
    tracker = schema["properties"]["tracker"]
    names, dotted = tracker["properties"]["kind"]["anyOf"]
    assert dotted["pattern"] == DOTTED_KIND_PATTERN
    assert {"jsonl", "noop", "tensorboard", "wandb"} <= set(names["enum"])
    assert len(names["enumDescriptions"]) == len(names["enum"])
    branches = {
        branch["if"]["properties"]["kind"].get("const", "dotted"): branch["then"]["$ref"]
        for branch in tracker["allOf"]
        if "properties" in branch["if"]
    }
    assert branches["jsonl"] == "#/$defs/JsonlTrackerConfig"
    assert branches["dotted"] == "#/$defs/TrackerConfig"
    # without a kind (being typed, or kept from a base file), the fields every kind has
    assert {"if": {"not": {"required": ["kind"]}}, "then": {"$ref": "#/$defs/TrackerConfig"}} in (
        tracker["allOf"]
    )
    jsonl = schema["$defs"]["JsonlTrackerConfig"]
    assert jsonl["properties"]["kind"]["const"] == "jsonl"
    assert jsonl["required"][0] == "kind"
    assert jsonl["additionalProperties"] is False
    assert jsonl["properties"]["filename"]["description"] == "File name inside the run folder."
    trainer_def = schema["$defs"]["WeightedLossTrainerConfig"]
    assert trainer_def["properties"]["max_epochs"]["description"].startswith("Train this many")
    assert schema["properties"]["seed"]["description"].startswith("Seed of Python")


def test_a_root_schema_is_open_to_subclass_fields_and_keeps_its_own() -> None:
    model = ExperimentConfig.model_json_schema()["$defs"]["ModelConfig"]
    assert "additionalProperties" not in model
    assert model["properties"]["kind"]["pattern"] == DOTTED_KIND_PATTERN
    optimizer = model["properties"]["optimizer"]["anyOf"][0]
    kinds = {
        branch["if"]["properties"]["kind"].get("const")
        for branch in optimizer["allOf"]
        if "properties" in branch["if"]
    }
    assert kinds >= {"adam", "adamw", "sgd"}


def test_registry_roots_are_registry_bases() -> None:
    for root in (builtin.TrackerConfig, builtin.CallbackConfig, builtin.ModelConfig):
        assert issubclass(root, RegistryBase)
        assert root.registry_root() is root


@pytest.mark.parametrize("field", sorted(NONE_MEANS_DEFAULT))
def test_a_seed_optional_trainer_field_given_as_none_takes_its_default(field: str) -> None:
    config = WeightedLossTrainerConfig.model_validate({**trainer(), field: None})
    default = WeightedLossTrainerConfig.model_fields[field].default
    assert getattr(config, field) == default
    assert getattr(config, field) is not None


def test_a_required_trainer_field_given_as_none_is_still_refused() -> None:
    with pytest.raises(ValidationError, match="effective_batch_size"):
        WeightedLossTrainerConfig.model_validate({**trainer(), "effective_batch_size": None})


def test_compile_options_default_to_torch_defaults() -> None:
    config = WeightedLossTrainerConfig.model_validate(
        trainer(use_torch_compile=True, compile_options={})
    )
    assert config.compile_options is not None
    assert config.compile_options.model_dump() == {
        "mode": "default",
        "dynamic": None,
        "fullgraph": False,
    }
    assert WeightedLossTrainerConfig.model_validate(trainer()).compile_options is None
