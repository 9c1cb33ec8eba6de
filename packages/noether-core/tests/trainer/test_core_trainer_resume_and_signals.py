"""Trainer state in checkpoints: exact resume mid-epoch, and saving on SIGINT."""

from __future__ import annotations

import os
import signal

import torch

from noether.config.schemas.initializer import ResumeInitializerConfig
from noether.core.callbacks.base import PeriodicCallback
from noether.core.runs import PathProvider
from noether.core.testing import MseTrainer, make_config, make_model, make_trainer


class _SaveAt(PeriodicCallback):
    def periodic_callback(self):
        self.checkpoint_writer.save(self.model, self.trainer, tag=self.update_counter.tag)


def test_resuming_mid_epoch_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    reference = make_model(momentum=0.9)
    make_trainer(make_config(max_updates=13)).train(reference)

    class SavingTrainer(MseTrainer):
        def get_trainer_callbacks(self, callback_default_args):
            return [_SaveAt(**callback_default_args, every_n_updates=5)]

    first_run = PathProvider(tmp_path, "resume", run_id="first")
    first = make_trainer(
        make_config(max_updates=5), path_provider=first_run, trainer_cls=SavingTrainer
    )
    first.train(make_model(momentum=0.9))
    resume = ResumeInitializerConfig(
        kind="resume", run=str(first_run.run_dir), checkpoint="E0_U5_S40"
    )
    second = make_trainer(
        make_config(max_updates=13, initializer=resume),
        path_provider=PathProvider(tmp_path, "resume", run_id="second"),
        trainer_cls=SavingTrainer,
    )
    resumed = make_model(seed=123, momentum=0.9)  # weights come from the checkpoint
    second.train(resumed)
    assert second.update_counter.tag == "E1_U13_S104"
    for a, b in zip(reference.parameters(), resumed.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def _signalling_trainer(sig, every_n_updates, path_provider, **config):
    """A trainer whose callback sends `sig` to this process every `every_n_updates`."""

    class Signalling(PeriodicCallback):
        def periodic_callback(self):
            os.kill(os.getpid(), sig)

    class SignallingTrainer(MseTrainer):
        def get_trainer_callbacks(self, callback_default_args):
            return [Signalling(**callback_default_args, every_n_updates=every_n_updates)]

    return make_trainer(
        make_config(**config), path_provider=path_provider, trainer_cls=SignallingTrainer
    )


def test_sigint_with_save_on_sigint_saves_latest_and_stops(path_provider):
    trainer = _signalling_trainer(
        signal.SIGINT, 3, path_provider, max_updates=20, save_on_sigint=True
    )
    trainer.train(make_model())
    assert trainer.update_counter.update == 3
    state = torch.load(path_provider.checkpoint_dir / "latest" / "trainer.pt", weights_only=False)
    assert state["update_counter"] == {"epoch": 0, "update": 3, "sample": 24}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_in_the_last_update_finishes_the_run_without_a_signal_checkpoint(path_provider):
    trainer = _signalling_trainer(signal.SIGTERM, 6, path_provider, max_updates=6)
    trainer.train(make_model())
    assert trainer.update_counter.update == 6
    assert trainer.stopped_by_signal is None  # finished: exit 0, nothing to requeue
    assert not list(path_provider.checkpoint_dir.glob("sigterm_*"))
