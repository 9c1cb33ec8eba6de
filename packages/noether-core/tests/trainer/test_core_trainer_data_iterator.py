"""Data-iterating callbacks read their dataset through the trainer's one DataLoader."""

from __future__ import annotations

import os
import re

import pytest
import torch

from noether.core import testing
from noether.core.callbacks.base import PeriodicDataIteratorCallback
from noether.core.testing import (
    MseTrainer,
    RegressionDataset,
    make_config,
    make_model,
    make_trainer,
)


class IndexedDataset(testing.IndexedDataset):
    """IndexedDataset with noise; optionally writes the loading process id to a file."""

    def __init__(self, length, pid_file=None, offset=0.0):
        super().__init__(length, seed=1, offset=offset, noise=True)
        self.pid_file = pid_file

    def __getitem__(self, index):
        if self.pid_file is not None:
            with open(self.pid_file, "a") as file:
                file.write(f"{os.getpid()}\n")
        return super().__getitem__(index)


class CollectingCallback(PeriodicDataIteratorCallback):
    def __init__(self, callback_config, context, runs, **kwargs):
        super().__init__(callback_config, context, **kwargs)
        self.runs = runs

    def process_data(self, batch, model):
        assert not torch.is_grad_enabled()
        assert not model.training
        assert not any(key.startswith("__meta") for key in batch)
        return {"idx": batch["idx"], "loss": (model(batch["x"]) - batch["y"]).pow(2).squeeze(1)}

    def process_results(self, results):
        self.runs.append(
            {
                "update": self.update_counter.update,
                "sizes": [len(r["idx"]) for r in results],
                "idx": self.gather_results([r["idx"] for r in results]).tolist(),
                "loss": self.gather_results([r["loss"] for r in results]),
            }
        )


def _trainer(runs, datasets, num_workers=0, every=None, **config):
    class EvalTrainer(MseTrainer):
        def get_trainer_callbacks(self, callback_default_args):
            return [
                CollectingCallback(
                    **callback_default_args,
                    runs=runs,
                    dataset_key="val",
                    batch_size=4,
                    **(every or {"every_n_updates": 2}),
                )
            ]

    return make_trainer(
        make_config(**config), datasets, trainer_cls=EvalTrainer, num_workers=num_workers
    )


def test_callback_gets_exactly_its_dataset_at_the_right_updates():
    runs: list = []
    val = IndexedDataset(10, offset=5.0)
    datasets = {"train": RegressionDataset(64), "val": val}
    model = make_model()
    trainer = _trainer(runs, datasets, max_updates=6)
    trainer.train(model)
    assert [run["update"] for run in runs] == [2, 4, 6]
    for run in runs:
        assert run["sizes"] == [4, 4, 2]
        assert run["idx"] == list(range(10))
    with torch.no_grad():
        final = (model(val.x) - val.y).pow(2).squeeze(1)
    assert torch.allclose(runs[-1]["loss"], final)


def test_interleaving_does_not_change_training():
    datasets = {"train": RegressionDataset(64), "val": IndexedDataset(10)}
    with_callback = make_model()
    _trainer([], datasets, max_epochs=2, every={"every_n_epochs": 1}).train(with_callback)
    without = make_model()
    make_trainer(make_config(max_epochs=2), datasets).train(without)
    for a, b in zip(with_callback.parameters(), without.parameters(), strict=True):
        assert torch.equal(a, b)


def test_evaluation_only_run_reads_the_dataset_once():
    runs: list = []
    datasets = {"val": IndexedDataset(7)}
    trainer = _trainer(runs, datasets, max_updates=0)
    trainer.train(make_model())
    assert len(runs) == 1
    assert runs[0]["idx"] == list(range(7))
    assert runs[0]["sizes"] == [4, 3]


def test_workers_start_once_for_training_and_evaluation_and_are_seeded(tmp_path):
    def run(name):
        runs: list = []
        pid_file = tmp_path / f"{name}.pids"
        datasets = {
            "train": IndexedDataset(32, pid_file=pid_file),
            "val": IndexedDataset(6, pid_file=pid_file),
        }
        noise = []

        class NoiseTrainer(MseTrainer):
            def train_step(self, batch, model):
                noise.append(batch["noise"].clone())
                return super().train_step(batch, model)

        class EvalTrainer(NoiseTrainer):
            def get_trainer_callbacks(self, args):
                return [CollectingCallback(**args, runs=runs, dataset_key="val", every_n_epochs=1)]

        config = make_config(max_epochs=3, forward_properties=["x"], target_properties=["y"])
        trainer = make_trainer(config, datasets, trainer_cls=EvalTrainer, num_workers=2)
        trainer.train(make_model())
        pids = set(pid_file.read_text().split())
        return runs, pids, torch.cat(noise)

    runs, pids, noise = run("a")
    assert [r["update"] for r in runs] == [4, 8, 12]
    assert all(r["idx"] == list(range(6)) for r in runs)
    assert len(pids) == 2  # two workers for 3 epochs and 3 evaluations: started once
    assert str(os.getpid()) not in pids
    _, pids_again, noise_again = run("b")
    assert pids_again.isdisjoint(pids)
    assert torch.equal(noise, noise_again)  # seeded workers: same random augmentation


def test_an_empty_dataset_of_a_callback_is_refused_before_the_first_update():
    """Found when the callback was first due, it failed a run after hours of training."""
    runs: list = []
    datasets = {"train": RegressionDataset(64), "val": IndexedDataset(0)}
    model = make_model()
    before = [p.detach().clone() for p in model.parameters()]
    trainer = _trainer(runs, datasets, max_updates=6, every={"every_n_epochs": 1})
    message = "dataset 'val' has no samples, but CollectingCallback(state_key="
    with pytest.raises(ValueError, match=re.escape(message)):
        trainer.train(model)
    assert trainer.update_counter.update == 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert runs == []
