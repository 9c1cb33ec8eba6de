"""The seed's docstring trainer (only loss_compute) trains until its loss falls."""

from __future__ import annotations

import textwrap

import torch

from noether.core.testing import (
    MseTrainer,
    RegressionDataset,
    make_config,
    make_model,
    make_trainer,
)
from noether.core.trainer.base import BaseTrainer


def _docstring_example() -> str:
    doc = BaseTrainer.__doc__ or ""
    block = doc.split(".. code-block:: python", 1)[1].split("\n    Args:", 1)[0]
    return textwrap.dedent(block)


def test_the_docstring_example_runs_and_the_loss_falls(path_provider, tracker):
    data = RegressionDataset(64)
    model = make_model(lr=0.05)
    with torch.no_grad():
        before = torch.nn.functional.mse_loss(model(data.x), data.y).item()
    namespace = {"dataset": data, "tracker": tracker, "path_provider": path_provider}
    namespace["model"] = model
    exec(compile(_docstring_example(), "BaseTrainer docstring", "exec"), namespace)
    trainer = namespace["trainer"]
    with torch.no_grad():
        after = torch.nn.functional.mse_loss(model(data.x), data.y).item()
    assert trainer.update_counter.update == 10 * 4
    assert after < before * 0.05
    assert type(trainer).__name__ == "MyTrainer"


def test_subclass_with_only_loss_compute_trains_until_loss_falls(path_provider, tracker):
    data = RegressionDataset(64)
    model = make_model(lr=0.05)
    with torch.no_grad():
        before = torch.nn.functional.mse_loss(model(data.x), data.y).item()
    trainer = make_trainer(
        make_config(max_epochs=20), {"train": data}, tracker, path_provider, MseTrainer
    )
    trainer.train(model)
    with torch.no_grad():
        after = torch.nn.functional.mse_loss(model(data.x), data.y).item()
    assert trainer.update_counter.update == 20 * 8
    assert after < before * 0.05


def test_a_run_without_tracker_trains_with_every_default_callback():
    """No tracker, no run folder: the default callbacks (stability included) log nothing
    and get in no one's way."""
    from noether.core import DataContainer
    from noether.core.testing import MseTrainer, RegressionDataset, make_config, make_model

    config = make_config(
        max_updates=6,
        log_every_n_updates=2,
        track_every_n_updates=1,
        monitor_training_stability=True,
        monitor_interval=2,
    )
    trainer = MseTrainer(config, DataContainer({"train": RegressionDataset()}), "cpu", None, None)
    assert trainer.log_writer is None and trainer.checkpoint_writer is None
    trainer.train(make_model())
    assert trainer.update_counter.update == 6
