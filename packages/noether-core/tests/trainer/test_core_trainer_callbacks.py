"""Callbacks in the loop: scheduling, tracking hooks, errors, early stop and state keys."""

from __future__ import annotations

import pytest
import torch

from noether.core.callbacks.base import CallbackBase, PeriodicCallback
from noether.core.testing import MseTrainer, make_config, make_model, make_trainer
from noether.core.trainer.types import EarlyStopIteration


class Recorder(PeriodicCallback):
    def __init__(
        self, callback_config, context, log=None, name="rec", fail_at=None, stop_at=None, **every
    ):
        super().__init__(callback_config, context, **every)
        self.log = log if log is not None else []
        self.name = name
        self.fail_at = fail_at
        self.stop_at = stop_at
        self.steps = 0
        self.updates = 0

    def periodic_callback(self):
        update = self.update_counter.update
        self.log.append((self.name, update))
        if update == self.fail_at:
            raise RuntimeError(f"{self.name} failed at {update}")
        if update == self.stop_at:
            raise EarlyStopIteration

    def track_after_accumulation_step(self, losses, additional_outputs, step, steps):
        self.steps += 1

    def track_after_update_step(self, losses, timings):
        assert set(timings) == {"data_wait", "forward", "backward", "update"}
        self.updates += 1

    def after_training(self):
        self.log.append((self.name, "after"))

    def state_dict(self):
        return {"updates": self.updates}

    def load_state_dict(self, state_dict):
        self.updates = state_dict["updates"]


def _trainer_with(make_callbacks, path_provider=None, **config):
    class CallbackTrainer(MseTrainer):
        def get_trainer_callbacks(self, callback_default_args):
            return make_callbacks(callback_default_args)

    return make_trainer(
        make_config(**config), path_provider=path_provider, trainer_cls=CallbackTrainer
    )


def test_periodic_callbacks_run_at_their_intervals():
    log: list = []
    trainer = _trainer_with(
        lambda args: [
            Recorder(**args, log=log, name="u3", every_n_updates=3),
            Recorder(**args, log=log, name="e1", every_n_epochs=1),
            Recorder(**args, log=log, name="s20", every_n_samples=20),
        ],
        max_epochs=2,
    )
    trainer.train(make_model())
    runs = {name: [u for n, u in log if n == name and u != "after"] for name in ("u3", "e1", "s20")}
    assert runs["u3"] == [3, 6, 9, 12, 15]
    assert runs["e1"] == [8, 16]
    assert runs["s20"] == [3, 5, 8, 10, 13, 15]  # samples 24, 40, 64, 80, 104, 120


def test_tracking_hooks_run_per_micro_batch_and_per_update():
    holder = {}

    def make(args):
        holder["cb"] = Recorder(**args, every_n_epochs=1)
        return [holder["cb"]]

    trainer = _trainer_with(make, max_updates=5, max_batch_size=4)
    trainer.train(make_model())
    assert holder["cb"].steps == 10
    assert holder["cb"].updates == 5


def test_a_failing_callback_lets_others_run_writes_an_error_checkpoint_and_reraises(path_provider):
    log: list = []
    trainer = _trainer_with(
        lambda args: [
            Recorder(**args, log=log, name="first", fail_at=4, every_n_updates=2),
            Recorder(**args, log=log, name="second", fail_at=4, every_n_updates=2),
            Recorder(**args, log=log, name="third", every_n_updates=2),
        ],
        path_provider=path_provider,
        max_updates=10,
    )
    with pytest.raises(RuntimeError, match="first failed at 4"):
        trainer.train(make_model())
    assert [entry for entry in log if entry[1] == 4] == [("first", 4), ("second", 4), ("third", 4)]
    assert trainer.update_counter.update == 4
    folder = path_provider.checkpoint_dir / "error_E0_U4_S32"
    assert sorted(p.name for p in folder.iterdir()) == [
        "checkpoint.json",
        "model.pt",
        "optim.pt",
        "trainer.pt",
    ]
    state = torch.load(folder / "trainer.pt", weights_only=False)
    assert state["update_counter"]["update"] == 4


def test_early_stop_ends_training_cleanly_and_after_training_still_runs():
    log: list = []
    trainer = _trainer_with(
        lambda args: [
            Recorder(**args, log=log, name="stopper", stop_at=6, every_n_updates=3),
            Recorder(**args, log=log, name="other", every_n_updates=3),
        ],
        max_updates=30,
    )
    trainer.train(make_model())
    assert trainer.update_counter.update == 6
    assert log[-2:] == [("stopper", "after"), ("other", "after")]
    assert ("other", 6) in log


def test_repeated_callbacks_get_unique_state_keys_and_state_round_trips():
    holder = {}

    def make(args):
        holder["cbs"] = [Recorder(**args, every_n_epochs=1) for _ in range(3)]
        return holder["cbs"]

    trainer = _trainer_with(make, max_updates=3)
    trainer.train(make_model())
    assert [cb.state_key for cb in holder["cbs"]] == ["Recorder", "Recorder_1", "Recorder_2"]
    state = trainer.state_dict()
    assert state["callbacks"] == {
        key: {"updates": 3} for key in ("Recorder", "Recorder_1", "Recorder_2")
    }
    for callback in holder["cbs"]:
        callback.updates = 0
    trainer.load_state_dict(state)
    assert [cb.updates for cb in holder["cbs"]] == [3, 3, 3]


def test_before_training_errors_are_collected_too():
    class Broken(CallbackBase):
        def before_training(self):
            raise ValueError("broken before training")

    log: list = []

    class Late(CallbackBase):
        def before_training(self):
            log.append("late ran")

    trainer = _trainer_with(lambda args: [Broken(**args), Late(**args)], max_updates=2)
    with pytest.raises(ValueError, match="broken before training"):
        trainer.train(make_model())
    assert log == ["late ran"]
    assert trainer.update_counter.update == 0


def test_user_callbacks_are_built_from_their_config_kinds():
    from typing import ClassVar

    from noether.config import CallbackConfig

    class CountingConfig(CallbackConfig):
        kind: str = "core_loop_test_periodic"
        target: ClassVar[str] = "noether.core.callbacks.base:PeriodicCallback"

    config = make_config(
        max_updates=4,
        callbacks=[CountingConfig(every_n_updates=2), CountingConfig(every_n_epochs=1)],
    )
    trainer = make_trainer(config)
    trainer.train(make_model())
    assert [type(cb).__name__ for cb in trainer.callbacks] == ["PeriodicCallback"] * 2
    assert [cb.state_key for cb in trainer.callbacks] == [
        "core_loop_test_periodic",
        "core_loop_test_periodic_1",
    ]
    assert trainer.callbacks[0].every_n_updates == 2
    assert trainer.callbacks[1].every_n_epochs == 1


class HookTracker(PeriodicCallback):
    """Counts calls of one tracking hook; stops early at the 2nd or fails at the 3rd call."""

    def __init__(self, callback_config, context, name, calls, action=None, **every):
        super().__init__(callback_config, context, **every)
        self.name, self.calls, self.action, self.seen = name, calls, action, 0

    def _hook(self) -> None:
        self.seen += 1
        self.calls.append((self.name, self.seen))
        if self.action == "stop" and self.seen == 2:
            raise EarlyStopIteration
        if self.action == "fail" and self.seen == 3:
            raise RuntimeError("tracking failed")


class UpdateHookTracker(HookTracker):
    def track_after_update_step(self, losses, timings):
        self._hook()


class MicroBatchHookTracker(HookTracker):
    def track_after_accumulation_step(
        self, losses, additional_outputs, accumulation_step, accumulation_steps
    ):
        self._hook()


@pytest.mark.parametrize("tracker", [UpdateHookTracker, MicroBatchHookTracker])
def test_errors_and_early_stops_in_tracking_hooks_are_handled_like_periodic_ones(tracker):
    calls: list = []

    def trainer(action):
        return _trainer_with(
            lambda args: [
                tracker(**args, name="a", calls=calls, action=action, every_n_epochs=1),
                tracker(**args, name="b", calls=calls, every_n_epochs=1),
            ],
            max_updates=10,
        )

    stopping = trainer("stop")
    stopping.train(make_model())
    assert stopping.update_counter.update == 2
    assert calls[-2:] == [("a", 2), ("b", 2)]
    calls.clear()
    with pytest.raises(RuntimeError, match="tracking failed"):
        trainer("fail").train(make_model())
    assert calls[-2:] == [("a", 3), ("b", 3)]


class AskCounter(Recorder):
    """Counts how often the loop asks `should_run` after an update."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.asked: list[int] = []

    def should_run(self, end_of_epoch=False):
        if not end_of_epoch:
            self.asked.append(self.update_counter.update)
        return super().should_run(end_of_epoch)

    def next_update_due(self):  # the default schedule, as if should_run were not overridden
        counter = self.update_counter
        return self.frequency.next_update_due(
            counter.update, counter.sample, counter.effective_batch_size
        )


class EveryOther(Recorder):
    """Overrides should_run only: the loop must ask it after every update."""

    def should_run(self, end_of_epoch=False):
        return not end_of_epoch and self.update_counter.update % 2 == 1


def test_callbacks_are_asked_only_at_their_next_due_update_and_keep_their_order():
    log: list = []
    holder = {}

    def make(args):
        holder["u3"] = AskCounter(**args, log=log, name="u3", every_n_updates=3)
        holder["s20"] = AskCounter(**args, log=log, name="s20", every_n_samples=20)
        holder["e1"] = AskCounter(**args, log=log, name="e1", every_n_epochs=1)
        return [holder["u3"], EveryOther(**args, log=log, name="odd"), holder["s20"], holder["e1"]]

    trainer = _trainer_with(make, max_epochs=2)  # 8 updates of 8 samples per epoch
    trainer.train(make_model())
    assert holder["u3"].asked == [3, 6, 9, 12, 15]
    assert holder["s20"].asked == [3, 5, 8, 10, 13, 15]  # samples 24, 40, 64, 80, 104, 120
    assert holder["e1"].asked == []  # epoch-only: never asked after an update
    runs = [entry for entry in log if entry[1] != "after"]
    assert [u for n, u in runs if n == "odd"] == [1, 3, 5, 7, 9, 11, 13, 15]
    assert [u for n, u in runs if n == "e1"] == [8, 16]
    # at update 15 all three ran in list order (u3, odd, s20); e1 ran after update 8's others
    assert runs[-4:] == [("u3", 15), ("odd", 15), ("s20", 15), ("e1", 16)]


@pytest.mark.parametrize(
    ("every", "start", "expected"),
    [
        # samples after each update: 35, 43, 51, 59, 67, 75, 83 -> crossings of 40, 60, 80
        ({"every_n_samples": 20}, {"epoch": 0, "update": 3, "sample": 27}, [5, 8, 10]),
        ({"every_n_updates": 3}, {"epoch": 0, "update": 4, "sample": 32}, [6, 9]),
    ],
)
def test_schedule_survives_a_resumed_counter_that_is_not_a_multiple(every, start, expected):
    log: list = []
    trainer = _trainer_with(
        lambda args: [Recorder(**args, log=log, name="cb", **every)], max_updates=10
    )
    trainer.update_counter.load_state_dict(start)
    trainer.train(make_model())
    assert [u for n, u in log if n == "cb" and u != "after"] == expected
