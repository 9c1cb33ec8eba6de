"""Every callback kind validates with noether-config alone, and cross-field rules hold."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import TypeAdapter, ValidationError

from noether.config import CallbackConfig, Discriminated, KindError
from noether.config.schemas import callbacks as schemas

ADAPTER: TypeAdapter[Any] = TypeAdapter(Annotated[CallbackConfig, Discriminated(CallbackConfig)])

VALID = {
    "checkpoint": (
        {"every_n_epochs": 1, "save_optim": True, "keep_last": 2},
        schemas.CheckpointCallbackConfig,
    ),
    "best_checkpoint": (
        {"every_n_updates": 5, "metric_key": "loss/val/total", "tolerances": [1, 5]},
        schemas.BestCheckpointCallbackConfig,
    ),
    "ema": ({"every_n_epochs": 1, "target_factors": [0.9, 0.99]}, schemas.EmaCallbackConfig),
    "fixed_early_stopper": ({"stop_at_update": 3}, schemas.FixedEarlyStopperConfig),
    "metric_early_stopper": (
        {"every_n_epochs": 1, "metric_key": "loss/val/total", "patience": 2, "min_delta": 0.01},
        schemas.MetricEarlyStopperConfig,
    ),
    "best_metric": (
        {"every_n_epochs": 1, "metric_key": "loss/val/total", "mode": "max"},
        schemas.BestMetricCallbackConfig,
    ),
    "offline_loss": (
        {"every_n_samples": 64, "batch_size": 8, "dataset_key": "val", "ema_factor": 0.9},
        schemas.OfflineLossCallbackConfig,
    ),
    "track_outputs": (
        {"every_n_updates": 10, "keys": ["degree_error"]},
        schemas.TrackOutputsCallbackConfig,
    ),
}


@pytest.mark.parametrize("kind", sorted(VALID))
def test_each_kind_resolves_to_its_schema_and_names_a_noether_callbacks_target(kind: str) -> None:
    fields, schema = VALID[kind]
    config = ADAPTER.validate_python({"kind": kind, **fields})
    assert type(config) is schema
    assert config.kind == kind
    assert schema.target.startswith("noether.callbacks.")
    assert schema.target_distribution() == "noether-callbacks"


@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_field_is_documented(kind: str) -> None:
    schema = VALID[kind][1]
    undocumented = [name for name, f in schema.model_fields.items() if not f.description]
    assert undocumented == []


@pytest.mark.parametrize("kind", sorted(VALID))
def test_unknown_keys_are_rejected(kind: str) -> None:
    with pytest.raises(ValidationError, match="extra_key"):
        ADAPTER.validate_python({"kind": kind, **VALID[kind][0], "extra_key": 1})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "checkpoint"}, "exactly one of every_n_epochs"),
        ({"kind": "checkpoint", "every_n_epochs": 1, "every_n_updates": 2}, "exactly one"),
        (
            {"kind": "checkpoint", "every_n_epochs": 1, "save_weights": False},
            "at least one of save_weights",
        ),
        (
            {
                "kind": "checkpoint",
                "every_n_epochs": 1,
                "save_weights": False,
                "save_latest_weights": True,
                "keep_last": 1,
            },
            "keep_last needs save_weights or save_optim",
        ),
        ({"kind": "checkpoint", "every_n_epochs": 1, "keep_last": 0}, "greater than or equal"),
        (
            {"kind": "best_checkpoint", "every_n_epochs": 1, "metric_key": "m", "tolerances": [0]},
            "tolerances must be > 0",
        ),
        (
            {
                "kind": "best_checkpoint",
                "every_n_epochs": 1,
                "metric_key": "m",
                "tolerances": [2, 2],
            },
            "tolerances has duplicates: 2",
        ),
        (
            {"kind": "best_checkpoint", "every_n_epochs": 1, "metric_key": "m", "mode": "up"},
            "'min' or 'max'",
        ),
        ({"kind": "ema", "every_n_epochs": 1, "target_factors": [1.0]}, "in \\(0, 1\\)"),
        ({"kind": "ema", "every_n_epochs": 1, "target_factors": []}, "at least 1 item"),
        (
            {
                "kind": "ema",
                "every_n_epochs": 1,
                "target_factors": [0.9],
                "save_weights": False,
            },
            "set save_weights or save_latest_weights",
        ),
        ({"kind": "fixed_early_stopper"}, "exactly one of stop_at_epoch"),
        (
            {"kind": "fixed_early_stopper", "stop_at_epoch": 1, "stop_at_update": 2},
            "got stop_at_epoch, stop_at_update",
        ),
        (
            {"kind": "fixed_early_stopper", "stop_at_epoch": 1, "every_n_epochs": 1},
            "takes no every_n_epochs",
        ),
        (
            {"kind": "metric_early_stopper", "every_n_epochs": 1, "metric_key": "m", "patience": 0},
            "greater than or equal to 1",
        ),
        (
            {
                "kind": "metric_early_stopper",
                "every_n_epochs": 1,
                "metric_key": "m",
                "min_delta": -1,
            },
            "greater than or equal to 0",
        ),
        ({"kind": "best_metric", "every_n_epochs": 1}, "metric_key"),
        ({"kind": "offline_loss", "every_n_epochs": 1}, "dataset_key"),
        ({"kind": "offline_loss", "every_n_samples": 8, "dataset_key": "val"}, "batch_size"),
        (
            {"kind": "offline_loss", "every_n_epochs": 1, "dataset_key": "val", "ema_factor": 1.5},
            "less than 1",
        ),
        ({"kind": "track_outputs", "every_n_epochs": 1, "keys": ["a", "a"]}, "duplicates: a"),
    ],
)
def test_cross_field_rules_name_what_is_wrong(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ADAPTER.validate_python(fields)


def test_missing_noether_callbacks_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from noether.config import registry

    config = ADAPTER.validate_python({"kind": "ema", **VALID["ema"][0]})
    real = registry.module_findable
    monkeypatch.setattr(
        registry,
        "module_findable",
        lambda module: not module.startswith("noether.callbacks") and real(module),
    )
    assert not config.target_installed()
    with pytest.raises(KindError, match="install the package 'noether-callbacks'"):
        config.load_target()
