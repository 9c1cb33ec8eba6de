"""BaseTrainer.eval runs every callback once on the model as it is."""

from __future__ import annotations

import subprocess
import sys

import torch

from noether.core.testing import (
    MseTrainer,
    RecordingCallback,
    make_config,
    make_model,
    make_trainer,
)


def test_eval_runs_callbacks_once_and_changes_no_weight():
    log = []

    class Probe(RecordingCallback):
        def periodic_callback(self):
            self.log.append(("periodic", self.model.training))

    class ProbeTrainer(MseTrainer):
        def get_trainer_callbacks(self, callback_default_args):
            return [Probe(**callback_default_args, log=log, every_n_epochs=1)]

    model = make_model()
    before = [p.detach().clone() for p in model.parameters()]
    make_trainer(make_config(max_epochs=5), trainer_cls=ProbeTrainer).eval(model)
    assert log == ["before", ("periodic", False), "after"]
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_importing_noether_core_is_lazy():
    code = (
        "import sys, noether.core as core\n"
        "assert 'noether.core.trainer.base' not in sys.modules\n"
        "assert core.BaseTrainer.__module__ == 'noether.core.trainer.base'\n"
        "assert core.EarlyStopIteration.__name__ == 'EarlyStopIteration'\n"
        "print(sorted(core.__all__))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "PeriodicDataIteratorCallback" in result.stdout
