"""The trainer's part of a checkpoint: what it holds and how a resumed trainer takes it back."""

from __future__ import annotations

import logging

import torch

from noether.core.callbacks.base import PeriodicCallback
from noether.core.testing import MseTrainer, make_config, make_model, make_trainer


class Counting(PeriodicCallback):
    """Counts updates; its count is its checkpoint state."""

    def __init__(self, callback_config, context, name=None, **every):
        super().__init__(callback_config, context, **every)
        if name is not None:
            self.state_key = name
        self.updates = 0

    def track_after_update_step(self, losses, timings):
        self.updates += 1

    def state_dict(self):
        return {"updates": self.updates}

    def load_state_dict(self, state_dict):
        self.updates = state_dict["updates"]


def _trainer(names, **config):
    class CountingTrainer(MseTrainer):
        def get_trainer_callbacks(self, callback_default_args):
            return [Counting(**callback_default_args, name=name) for name in names]

    return make_trainer(make_config(**config), trainer_cls=CountingTrainer)


def test_a_resumed_trainer_takes_back_position_callbacks_rng_and_skip_count():
    trainer = _trainer(["a", "b"], max_updates=5, skip_nan_loss=True)
    trainer.train(make_model())
    trainer.skip_nan_loss_counter = 2
    state = trainer.state_dict()
    expected_draw = torch.rand(3)

    resumed = _trainer(["a", "b"], max_updates=8, skip_nan_loss=True)
    resumed.callbacks = resumed.get_all_callbacks(make_model())
    torch.manual_seed(1234)  # the checkpoint's RNG state must win over this
    resumed.load_state_dict(state)

    assert resumed.update_counter.update == 5
    assert [cb.updates for cb in resumed.callbacks] == [5, 5]
    assert resumed.skip_nan_loss_counter == 2
    assert torch.equal(torch.rand(3), expected_draw)


def test_missing_and_unknown_callback_states_are_warned_about_and_the_rest_loads(caplog):
    trainer = _trainer(["kept", "dropped"], max_updates=3)
    trainer.train(make_model())
    state = trainer.state_dict()

    resumed = _trainer(["kept", "added"], max_updates=6)
    resumed.callbacks = resumed.get_all_callbacks(make_model())
    with caplog.at_level(logging.WARNING):
        resumed.load_state_dict(state)

    assert [cb.updates for cb in resumed.callbacks] == [3, 0]
    assert "no state for callback Counting(state_key='added')" in caplog.text
    assert "checkpoint holds state of unknown callbacks: ['dropped']" in caplog.text


def test_the_data_layout_names_what_the_stored_position_refers_to():
    trainer = _trainer([], max_updates=3, effective_batch_size=4)
    state = trainer.state_dict()
    assert state["data"] == {
        "train_length": len(trainer.data_container.get_dataset("train")),
        "updates_per_epoch": len(trainer.data_container.get_dataset("train")) // 4,
        "effective_batch_size": 4,
        "world_size": 1,
    }
