"""A compiled run has no graph break and no recompile once warmed up.

`fullgraph: true` makes a graph break an error, and after the first update (which fed the
compiled model every micro-batch shape) torch's public `fail_on_recompile` stance makes a
recompile one. The runs happen in subprocesses with `TORCH_LOGS` (torch's public logging
switch) showing every graph traced and every recompile with its reason, so the tests also
count the compiles: one per micro-batch size with `dynamic: false`, one with `dynamic: true`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from noether.core.callbacks.base import PeriodicCallback, PeriodicDataIteratorCallback
from noether.core.stopwatch import Stopwatch
from noether.core.testing import (
    MseTrainer,
    RegressionDataset,
    make_config,
    make_model,
    make_trainer,
    run_ranks,
)

pytestmark = pytest.mark.skipif(
    not any(shutil.which(n) for n in (os.environ.get("CXX", "g++"), "c++", "clang++")),
    reason="torch.compile's inductor needs a C++ compiler on the CPU",
)

LOGS = "recompiles,graph_breaks,graph_code"
MARK = "== scenario "
RECOMPILE = re.compile(r"\[__recompiles\]\s+- \d+/\d+: (.*)$", re.MULTILINE)

# Effective batch 13 with at most 5 per micro-batch: 5 + 4 + 4 (`split_batch`), so an update
# feeds the compiled model two shapes; 52 samples make 4 updates an epoch, so the run crosses
# an epoch end; an evaluation every 2 updates switches the model to eval and back.
STEADY: dict[str, Any] = {"effective_batch_size": 13, "max_batch_size": 5, "max_updates": 8}
SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {  # (compile_options, config)
    # one graph per micro-batch size: 5, then 4 (the one recompile, for the new size)
    "static": ({"fullgraph": True, "dynamic": False}, {}),
    # one graph for all sizes; with skip_nan_loss's gradient hooks on the parameters
    "dynamic": ({"fullgraph": True, "dynamic": True}, {"skip_nan_loss": True}),
}
# Two ranks, 14 a update: 7 per rank, 3 + 2 + 2; 56 samples make 4 updates an epoch.
DDP: dict[str, Any] = {"effective_batch_size": 14, "max_batch_size": 3, "max_updates": 6}


def test_no_graph_break_and_no_recompile_once_warmed_up(tmp_path):
    env = {**os.environ, "TORCH_LOGS": LOGS}
    out = tmp_path / "result.json"
    run = subprocess_run([sys.executable, __file__, "steady", str(out)], env)
    results = json.loads(out.read_text())
    logs = {part.split("\n", 1)[0].strip(): part for part in run.split(MARK)[1:]}
    expected = {
        "static": ["tensor 'x' size mismatch at index 0. expected 5, actual 4"],
        "dynamic": [],
    }
    for name in SCENARIOS:
        result, log = results[name], logs[name]
        assert result["updates"] == STEADY["max_updates"]
        assert result["checked_updates"] == STEADY["max_updates"] - 1
        assert result["max_abs_diff_to_eager"] < 1e-5
        assert log.count("TRACED GRAPH") == 1 + len(expected[name]), log[-3000:]
        assert "Graph break" not in log
        assert RECOMPILE.findall(log) == expected[name]
    assert results["stance_control"] == "raised"


def test_fullgraph_on_two_gloo_ranks_compiles_the_model_inside_ddp(tmp_path, monkeypatch):
    """DDP's own forward breaks the graph, so with fullgraph DDP wraps the compiled model."""
    monkeypatch.setenv("TORCH_LOGS", LOGS)
    outputs = run_ranks([sys.executable, __file__, "ddp", str(tmp_path)], world_size=2)
    eager = make_model()
    single = {**DDP, "max_batch_size": None}
    make_trainer(make_config(**single), {"train": RegressionDataset(56)}).train(eager)
    expected = [p.detach().tolist() for p in eager.parameters()]
    for rank, output in enumerate(outputs):
        result = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert result["inside_ddp"] == "OptimizedModule"  # what torch.compile returns
        assert result["checked_updates"] == DDP["max_updates"] - 1
        torch.testing.assert_close(result["weights"], expected, rtol=1e-5, atol=1e-6)
        assert output.count("TRACED GRAPH") == 2, output[-3000:]
        assert "Graph break" not in output
        assert RECOMPILE.findall(output) == [
            "tensor 'x' size mismatch at index 0. expected 3, actual 2"
        ]


def subprocess_run(argv: list[str], env: dict[str, str]) -> str:
    """Runs `argv`; its stderr (where torch logs), failing with it on a non-zero exit."""
    run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-4000:]
    return run.stderr


# ---------------------------------------------------------------------------- the runs
class _Evaluation(PeriodicDataIteratorCallback):
    """The trainer's loss on `val` (batches of 7: 7 + 3), as an evaluation callback runs it
    (on the model as the callbacks see it: not compiled)."""

    def process_data(self, batch: dict[str, torch.Tensor], model: torch.nn.Module) -> Any:
        assert self.trainer is not None
        return self.trainer.train_step(batch, model).total_loss.detach()

    def process_results(self, results: list[Any]) -> None:
        self.log_writer.add_scalar("loss/val", torch.stack(results).mean())


class _FailOnRecompileAfterWarmUp(PeriodicCallback):
    """Sets torch's `fail_on_recompile` stance after the first update and counts the
    updates that ran under it."""

    def __init__(self, context: Any) -> None:
        super().__init__(None, context)
        self.checked_updates = 0

    def track_after_update_step(
        self, losses: dict[str, torch.Tensor], timings: dict[str, Stopwatch]
    ) -> None:
        if self.update_counter.update == 1:
            torch.compiler.set_stance("fail_on_recompile")
        else:
            self.checked_updates += 1

    def after_training(self) -> None:
        torch.compiler.set_stance("default")


class _SteadyTrainer(MseTrainer):
    stance: _FailOnRecompileAfterWarmUp
    inside_ddp: str | None = None
    """The class of the module that DDP wraps."""

    def wrap_ddp(self, model: torch.nn.Module) -> torch.nn.Module:
        wrapped = super().wrap_ddp(model)
        if isinstance(wrapped, torch.nn.parallel.DistributedDataParallel):
            self.inside_ddp = type(wrapped.module).__name__
        return wrapped

    def get_trainer_callbacks(self, callback_default_args: dict[str, Any]) -> list[Any]:
        context = callback_default_args["context"]
        self.stance = _FailOnRecompileAfterWarmUp(context)
        evaluation = _Evaluation(None, context, dataset_key="val", batch_size=7, every_n_updates=2)
        return [evaluation, self.stance]


def _compiled_run(data: dict[str, Any], options: dict[str, Any], **fields: Any) -> Any:
    torch.compiler.reset()
    config = make_config(use_torch_compile=True, compile_options=options, **fields)
    trainer = make_trainer(config, data, trainer_cls=_SteadyTrainer)
    model = make_model()
    try:
        trainer.train(model)
    finally:
        torch.compiler.set_stance("default")
    return trainer, model


def _steady_scenario(name: str, options: dict[str, Any], config: dict[str, Any]) -> dict:
    data = {"train": RegressionDataset(52), "val": RegressionDataset(10, seed=1)}
    fields = {
        **STEADY,
        "add_default_callbacks": True,
        "log_every_n_updates": 3,
        "track_every_n_updates": 2,
        **config,
    }
    eager = make_model()
    make_trainer(make_config(**fields), data, trainer_cls=_SteadyTrainer).train(eager)
    print(MARK + name, file=sys.stderr, flush=True)
    trainer, compiled = _compiled_run(data, options, **fields)
    diff = max(
        (a - b).abs().max().item()
        for a, b in zip(eager.parameters(), compiled.parameters(), strict=True)
    )
    return {
        "updates": trainer.update_counter.update,
        "checked_updates": trainer.stance.checked_updates,
        "max_abs_diff_to_eager": diff,
    }


def _stance_control() -> str:
    """That the stance does fail on a recompile in this torch (a new shape, static)."""
    print(MARK + "control", file=sys.stderr, flush=True)
    double = torch.compile(lambda x: x * 2, backend="eager", dynamic=False)
    double(torch.ones(2))
    try:
        with torch.compiler.set_stance("fail_on_recompile"):
            double(torch.ones(3))
    except RuntimeError:
        return "raised"
    return "compiled"


def _ddp_rank(out: Path) -> None:
    """One rank of the two-rank fullgraph run."""
    import torch.distributed as dist

    from noether.core.testing import end_rank

    dist.init_process_group("gloo")
    data = {"train": RegressionDataset(56), "val": RegressionDataset(10, seed=1)}
    options = {"fullgraph": True, "dynamic": False}
    trainer, model = _compiled_run(data, options, **DDP)
    result = {
        "inside_ddp": trainer.inside_ddp,
        "checked_updates": trainer.stance.checked_updates,
        "weights": [p.detach().tolist() for p in model.parameters()],
    }
    (out / f"rank{dist.get_rank()}.json").write_text(json.dumps(result))
    end_rank()


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1] == "ddp":
        _ddp_rank(Path(sys.argv[2]))
    results: dict[str, Any] = {name: _steady_scenario(name, *s) for name, s in SCENARIOS.items()}
    results["stance_control"] = _stance_control()
    Path(sys.argv[2]).write_text(json.dumps(results))
