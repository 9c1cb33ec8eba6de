"""noether.core.testing: shipped scaffolding that imports no pytest and records what ran."""

from __future__ import annotations

import subprocess
import sys

from noether.core.testing import (
    CallbackHarness,
    MetricScript,
    MseTrainer,
    RecordingCallback,
    RecordingTracker,
    make_config,
    make_model,
    make_trainer,
)


def test_importing_the_scaffolding_imports_no_pytest():
    code = "import sys, noether.core.testing\nassert 'pytest' not in sys.modules\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_recording_callback_sees_every_hook_in_the_loop():
    holder: dict[str, RecordingCallback] = {}

    class Recording(MseTrainer):
        def get_trainer_callbacks(self, callback_default_args):
            holder["cb"] = RecordingCallback(**callback_default_args, every_n_updates=2)
            return [holder["cb"]]

    tracker = RecordingTracker()
    trainer = make_trainer(
        make_config(max_updates=3, max_batch_size=4, add_default_callbacks=True),
        tracker=tracker,
        trainer_cls=Recording,
    )
    trainer.train(make_model())
    callback = holder["cb"]
    assert callback.log == ["before", ("periodic", 2), "after"]
    assert [(r.update, r.step, r.steps) for r in callback.micro_batches] == [
        (u, s, 2) for u in range(3) for s in range(2)
    ]
    assert [r.update for r in callback.updates] == [1, 2, 3]
    assert set(callback.updates[0].timings) == {"data_wait", "forward", "backward", "update"}
    assert len(trainer.step_losses) == 6
    assert sorted(tracker.rows_with("loss/online/total")) == [1, 2, 3]


def test_harness_runs_a_callback_and_keeps_what_it_logged():
    harness = CallbackHarness(updates_per_epoch=2)
    script = MetricScript(harness.context, "loss/val/total", [3.0, 2.0, 1.0])
    for _ in range(3):
        harness.step(script)
    assert harness.tracker.rows_with("loss/val/total") == {1: 3.0, 2: 2.0, 3: 1.0}
    assert harness.counter.epoch == 1


def test_make_trainer_builds_a_trainer_whose_init_takes_the_config_and_kwargs():
    # the docs' pattern (writing-a-trainer.md): `__init__(self, trainer_config, **kwargs)`
    class Scaled(MseTrainer):
        def __init__(self, trainer_config, **kwargs):
            super().__init__(trainer_config, **kwargs)
            self.scale = 2.0

    trainer = make_trainer(make_config(max_updates=1), trainer_cls=Scaled)
    trainer.train(make_model())
    assert (trainer.scale, trainer.update_counter.update) == (2.0, 1)


def test_harness_hands_a_data_iterating_callback_its_batches_when_due():
    from noether.core.callbacks.base import PeriodicDataIteratorCallback
    from noether.core.testing import PairDataset

    class CountSamples(PeriodicDataIteratorCallback):
        def process_data(self, batch, model):
            return batch["x"]

        def process_results(self, results):
            self.log_writer.add_scalar("eval/samples", float(len(self.gather_results(results))))
            self.log_writer.add_scalar("eval/batches", float(len(results)))

    harness = CallbackHarness(model=make_model(), datasets={"val": PairDataset(length=10)})
    callback = CountSamples(None, harness.context, dataset_key="val", batch_size=4,
                            every_n_updates=2)  # fmt: skip
    for _ in range(4):
        harness.step(callback)
    assert harness.tracker.rows_with("eval/samples") == {2: 10.0, 4: 10.0}
    assert harness.tracker.rows_with("eval/batches") == {2: 3.0, 4: 3.0}
