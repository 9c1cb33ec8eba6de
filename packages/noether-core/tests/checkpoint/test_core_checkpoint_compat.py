"""Which config changes a resume accepts."""

from __future__ import annotations

from typing import Any

from noether.core.checkpoint.compat import compare_configs


def _config(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "x",
        "seed": 0,
        "datasets": {"train": {"kind": "d", "size": 10}},
        "model": {"kind": "m", "width": 4, "optimizer": {"kind": "adamw", "lr": 0.1}},
        "trainer": {
            "kind": "t",
            "max_epochs": 2,
            "effective_batch_size": 8,
            "max_batch_size": None,
            "precision": "float32",
            "log_every_n_updates": 2,
            "callbacks": [],
            "initializer": None,
        },
        "tracker": {"kind": "jsonl"},
    }
    for path, value in changes.items():
        *parents, key = path.split("__")
        node = config
        for parent in parents:
            node = node[parent]
        node[key] = value
    return config


def _keys(changes: list[Any]) -> list[str]:
    return [change.key for change in changes]


def test_what_decides_the_weights_breaks_exactness() -> None:
    new = _config(
        seed=1,
        datasets__train__size=12,
        model__width=8,
        model__optimizer__kind="sgd",
        trainer__effective_batch_size=16,
        trainer__max_batch_size=4,
        trainer__precision="bf16",
    )
    breaking, other = compare_configs(_config(), new)
    assert _keys(breaking) == [
        "datasets.train.size",
        "model.optimizer.kind",
        "model.width",
        "seed",
        "trainer.effective_batch_size",
        "trainer.max_batch_size",
        "trainer.precision",
    ]
    assert other == []
    assert str(breaking[-1]) == "trainer.precision: 'float32' -> 'bf16'"


def test_stop_criterion_intervals_callbacks_tracker_and_a_new_dataset_pass() -> None:
    new = _config(
        trainer__max_epochs=5,
        trainer__log_every_n_updates=10,
        trainer__callbacks=[{"kind": "checkpoint"}],
        trainer__initializer={"kind": "resume", "run": "r"},
        tracker={"kind": "tensorboard"},
        model__optimizer__lr=0.05,
        name="renamed",
    )
    new["datasets"]["val"] = {"kind": "d", "size": 3}
    breaking, other = compare_configs(_config(), new)
    assert breaking == []
    assert _keys(other) == [
        "datasets.val.kind",
        "datasets.val.size",
        "model.optimizer.lr",
        "tracker.kind",
        "trainer.callbacks",
        "trainer.log_every_n_updates",
        "trainer.max_epochs",
    ]


def test_a_precision_spelled_another_way_is_no_change() -> None:
    stored = _config(trainer__precision="bf16")
    for same in ("bfloat16", "bf16"):
        assert compare_configs(stored, _config(trainer__precision=same)) == ([], [])
    assert compare_configs(_config(trainer__precision="fp32"), _config()) == ([], [])
    breaking, _ = compare_configs(stored, _config(trainer__precision="fp16"))
    assert _keys(breaking) == ["trainer.precision"]


def test_filling_or_emptying_a_mapping_names_only_the_keys_beneath_it() -> None:
    # it also listed "model.optimizer.lr_scale: {} -> (absent)", which no one had changed so
    stored = _config(model__optimizer__lr_scale={})
    filled = _config(model__optimizer__lr_scale={"head": 0.5})
    _, other = compare_configs(stored, filled)
    assert [str(change) for change in other] == ["model.optimizer.lr_scale.head: (absent) -> 0.5"]
    _, other = compare_configs(filled, stored)
    assert [str(change) for change in other] == ["model.optimizer.lr_scale.head: 0.5 -> (absent)"]


def test_a_changed_item_of_a_list_is_named_by_its_index_and_key() -> None:
    """One changed interval of one callback was said as both whole callback lists."""
    callbacks = [
        {"kind": "checkpoint", "every_n_epochs": 1, "save_optim": True},
        {"kind": "ema", "factors": [0.9, 0.99]},
    ]
    changed = [{**callbacks[0], "every_n_epochs": 2}, {"kind": "ema", "factors": [0.9, 0.999]}]
    _, other = compare_configs(
        _config(trainer__callbacks=callbacks), _config(trainer__callbacks=changed)
    )
    assert [str(change) for change in other] == [
        "trainer.callbacks.0.every_n_epochs: 1 -> 2",
        "trainer.callbacks.1.factors.1: 0.99 -> 0.999",
    ]
    breaking, _ = compare_configs(_config(model__widths=[4, 4]), _config(model__widths=[4, 8]))
    assert [str(change) for change in breaking] == ["model.widths.1: 4 -> 8"]
    _, other = compare_configs(_config(), _config(trainer__callbacks=callbacks[:1]))
    assert _keys(other) == ["trainer.callbacks"]  # added: the whole new list
