"""use_torch_compile with compile_options: what reaches torch.compile, a real compiled run,
and a steady state without graph break or recompile."""

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
from noether.core.testing import RegressionDataset, make_config, make_model, make_trainer
from noether.core.testing.trainers import MseTrainer
from noether.core.trainer.compiling import update_start_marker


def _compiled_config(**options: object) -> dict[str, object]:
    return {"use_torch_compile": True, "compile_options": options}


def test_compile_options_are_passed_to_torch_compile(monkeypatch):
    calls = []

    def fake_compile(module, **kwargs):
        calls.append(kwargs)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    config = make_config(
        max_updates=1, **_compiled_config(mode="reduce-overhead", dynamic=False, fullgraph=True)
    )
    make_trainer(config).train(make_model())
    assert calls == [{"mode": "reduce-overhead", "dynamic": False, "fullgraph": True}]


def test_without_compile_options_torch_compile_gets_only_the_model(monkeypatch):
    calls = []

    def fake_compile(module, **kwargs):
        calls.append(kwargs)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    make_trainer(make_config(max_updates=1, use_torch_compile=True)).train(make_model())
    assert calls == [{}]


def test_the_cuda_graph_iteration_mark_is_given_for_a_compiled_model_on_cuda_only():
    mark = torch.compiler.cudagraph_mark_step_begin
    assert update_start_marker(True, torch.device("cuda")) is mark
    assert update_start_marker(True, torch.device("cuda:1")) is mark
    assert update_start_marker(False, torch.device("cuda")) is None
    assert update_start_marker(True, torch.device("cpu")) is None


def test_each_update_is_marked_once_before_its_first_micro_batch(monkeypatch):
    """With accumulation (3 + 3 + 2), the CUDA graph iteration spans the whole update."""
    events: list[str] = []
    monkeypatch.setattr(
        "noether.core.trainer.base.update_start_marker", lambda *_: lambda: events.append("mark")
    )
    trainer = make_trainer(make_config(max_updates=2, max_batch_size=3))
    update = trainer.update

    def recording(batch: Any, dist_model: Any, model: Any, steps: int, index: int, *rest: Any):
        events.append(f"step {index}/{steps}")
        return update(batch, dist_model, model, steps, index, *rest)

    monkeypatch.setattr(trainer, "update", recording)
    trainer.train(make_model())
    once = ["mark", "step 0/3", "step 1/3", "step 2/3"]
    assert events == once + once


def _has_cpp_compiler() -> bool:
    return any(shutil.which(name) for name in (os.environ.get("CXX", "g++"), "c++", "clang++"))


needs_cpp_compiler = pytest.mark.skipif(
    not _has_cpp_compiler(), reason="torch.compile's inductor needs a C++ compiler on the CPU"
)


@needs_cpp_compiler
def test_a_compiled_run_on_cpu_matches_the_eager_run():
    data = {"train": RegressionDataset(32)}
    eager, compiled = make_model(), make_model()
    make_trainer(make_config(max_updates=3), data).train(eager)
    config = make_config(max_updates=3, **_compiled_config(mode="default", dynamic=False))
    make_trainer(config, data).train(compiled)
    for a, b in zip(eager.parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- steady state
# Effective batch 13 with at most 5 per micro-batch: 5 + 4 + 4 (`split_batch`), so an update
# feeds the compiled model two shapes; 52 samples make 4 updates an epoch, so the run crosses
# an epoch end; an evaluation every 2 updates switches the model to eval and back.
STEADY = {"effective_batch_size": 13, "max_batch_size": 5, "max_updates": 8}
SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {  # (compile_options, config)
    # one graph per micro-batch size: 5, then 4 (the one recompile, for the new size)
    "static": ({"fullgraph": True, "dynamic": False}, {}),
    # one graph for all sizes; with skip_nan_loss's gradient hooks on the parameters
    "dynamic": ({"fullgraph": True, "dynamic": True}, {"skip_nan_loss": True}),
}
EXPECTED_GRAPHS = {"static": 2, "dynamic": 1}
SCENARIO_MARK = "== scenario "


@needs_cpp_compiler
def test_a_compiled_run_has_no_graph_break_and_no_recompile_once_warmed_up(tmp_path):
    """fullgraph makes a graph break an error, and after the first update torch's
    `fail_on_recompile` stance makes a recompile one; TORCH_LOGS shows the graphs compiled."""
    env = {**os.environ, "TORCH_LOGS": "recompiles,graph_breaks,graph_code"}
    out = tmp_path / "result.json"
    run = subprocess.run(
        [sys.executable, __file__, str(out)], env=env, capture_output=True, text=True, timeout=240
    )
    assert run.returncode == 0, run.stderr[-4000:]
    results = json.loads(out.read_text())
    logs = dict(_split_log(run.stderr))
    for name in SCENARIOS:
        result, log = results[name], logs[name]
        assert result["updates"] == STEADY["max_updates"]
        assert result["max_abs_diff_to_eager"] < 1e-5
        assert result["stance_checked_updates"] == STEADY["max_updates"] - 1
        assert log.count("TRACED GRAPH") == EXPECTED_GRAPHS[name], log[-3000:]
        assert "Graph break" not in log
        recompiles = re.findall(r"\[__recompiles\]\s+- \d+/\d+: (.*)$", log, re.MULTILINE)
        if name == "static":
            assert recompiles == ["tensor 'x' size mismatch at index 0. expected 5, actual 4"]
        else:
            assert recompiles == []
    assert results["stance_control"] == "raised"


def _split_log(stderr: str) -> list[tuple[str, str]]:
    parts = stderr.split(SCENARIO_MARK)[1:]
    return [(part.split("\n", 1)[0].strip(), part) for part in parts]


class _Evaluation(PeriodicDataIteratorCallback):
    """The trainer's loss on `val` (batches of 7: 7 + 3), as an evaluation callback runs it."""

    def process_data(self, batch: dict[str, torch.Tensor], model: torch.nn.Module) -> Any:
        assert self.trainer is not None
        return self.trainer.train_step(batch, model).total_loss.detach()

    def process_results(self, results: list[Any]) -> None:
        self.log_writer.add_scalar("loss/val", torch.stack(results).mean())


class _FailOnRecompileAfterWarmUp(PeriodicCallback):
    """Sets torch's `fail_on_recompile` stance after the first update (which compiled every
    micro-batch shape) and counts the updates that ran under it."""

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
    def get_trainer_callbacks(self, callback_default_args: dict[str, Any]) -> list[Any]:
        context = callback_default_args["context"]
        self.stance = _FailOnRecompileAfterWarmUp(context)
        evaluation = _Evaluation(None, context, dataset_key="val", batch_size=7, every_n_updates=2)
        return [evaluation, self.stance]


def _steady_run(name: str, options: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """A compiled run and the same run eager (run as a script by the test above)."""
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
    torch.compiler.reset()
    print(SCENARIO_MARK + name, file=sys.stderr, flush=True)
    compiled = make_model()
    trainer = make_trainer(
        make_config(**_compiled_config(**options), **fields), data, trainer_cls=_SteadyTrainer
    )
    try:
        trainer.train(compiled)
    finally:
        torch.compiler.set_stance("default")
    diff = max(
        (a - b).abs().max().item()
        for a, b in zip(eager.parameters(), compiled.parameters(), strict=True)
    )
    return {
        "updates": trainer.update_counter.update,
        "max_abs_diff_to_eager": diff,
        "stance_checked_updates": trainer.stance.checked_updates,
    }


def _stance_control() -> str:
    """That the stance does fail on a recompile in this torch (a new shape, static)."""
    print(SCENARIO_MARK + "control", file=sys.stderr, flush=True)
    double = torch.compile(lambda x: x * 2, backend="eager", dynamic=False)
    double(torch.ones(2))
    try:
        with torch.compiler.set_stance("fail_on_recompile"):
            double(torch.ones(3))
    except RuntimeError:
        return "raised"
    return "compiled"


if __name__ == "__main__":
    torch.set_num_threads(1)
    results: dict[str, Any] = {name: _steady_run(name, *cfg) for name, cfg in SCENARIOS.items()}
    results["stance_control"] = _stance_control()
    Path(sys.argv[1]).write_text(json.dumps(results))
