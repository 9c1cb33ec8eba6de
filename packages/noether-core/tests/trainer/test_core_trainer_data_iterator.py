"""Data-iterating callbacks read their dataset through the trainer's one DataLoader."""

from __future__ import annotations

import os

import pytest
import torch
from torch.utils.data import Dataset

from noether.core.callbacks.base import PeriodicDataIteratorCallback


class IndexedDataset(Dataset):
    """Items {x, y, idx}; optionally writes the loading process id to a file."""

    def __init__(self, length, pid_file=None, offset=0.0):
        generator = torch.Generator().manual_seed(1)
        self.x = torch.randn(length, 4, generator=generator) + offset
        self.y = self.x.sum(dim=1, keepdim=True)
        self.pid_file = pid_file

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        if self.pid_file is not None:
            with open(self.pid_file, "a") as file:
                file.write(f"{os.getpid()}\n")
        return {
            "x": self.x[index],
            "y": self.y[index],
            "idx": torch.tensor(index),
            "noise": torch.rand(1),
            "__meta_path": torch.tensor(index),
        }


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


def _trainer(kit, runs, datasets, num_workers=0, every=None, **config):
    class EvalTrainer(kit.MseTrainer):
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

    return kit.make_trainer(
        kit.make_config(**config), datasets, trainer_cls=EvalTrainer, num_workers=num_workers
    )


def test_callback_gets_exactly_its_dataset_at_the_right_updates(kit):
    runs: list = []
    val = IndexedDataset(10, offset=5.0)
    datasets = {"train": kit.RegressionDataset(64), "val": val}
    model = kit.make_model()
    trainer = _trainer(kit, runs, datasets, max_updates=6)
    trainer.train(model)
    assert [run["update"] for run in runs] == [2, 4, 6]
    for run in runs:
        assert run["sizes"] == [4, 4, 2]
        assert run["idx"] == list(range(10))
    with torch.no_grad():
        final = (model(val.x) - val.y).pow(2).squeeze(1)
    assert torch.allclose(runs[-1]["loss"], final)


def test_interleaving_does_not_change_training(kit):
    datasets = {"train": kit.RegressionDataset(64), "val": IndexedDataset(10)}
    with_callback = kit.make_model()
    _trainer(kit, [], datasets, max_epochs=2, every={"every_n_epochs": 1}).train(with_callback)
    without = kit.make_model()
    kit.make_trainer(kit.make_config(max_epochs=2), datasets).train(without)
    for a, b in zip(with_callback.parameters(), without.parameters(), strict=True):
        assert torch.equal(a, b)


def test_evaluation_only_run_reads_the_dataset_once(kit):
    runs: list = []
    datasets = {"val": IndexedDataset(7)}
    trainer = _trainer(kit, runs, datasets, max_updates=0)
    trainer.train(kit.make_model())
    assert len(runs) == 1
    assert runs[0]["idx"] == list(range(7))
    assert runs[0]["sizes"] == [4, 3]


@pytest.mark.filterwarnings("ignore:batch keys")
def test_workers_start_once_for_training_and_evaluation_and_are_seeded(kit, tmp_path):
    def run(name):
        runs: list = []
        pid_file = tmp_path / f"{name}.pids"
        datasets = {
            "train": IndexedDataset(32, pid_file=pid_file),
            "val": IndexedDataset(6, pid_file=pid_file),
        }
        noise = []

        class NoiseTrainer(kit.MseTrainer):
            def train_step(self, batch, model):
                noise.append(batch["noise"].clone())
                return super().train_step(batch, model)

        class EvalTrainer(NoiseTrainer):
            def get_trainer_callbacks(self, args):
                return [CollectingCallback(**args, runs=runs, dataset_key="val", every_n_epochs=1)]

        config = kit.make_config(max_epochs=3, forward_properties=["x"], target_properties=["y"])
        trainer = kit.make_trainer(config, datasets, trainer_cls=EvalTrainer, num_workers=2)
        trainer.train(kit.make_model())
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
