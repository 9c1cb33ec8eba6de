"""use_torch_compile with compile_options: what reaches torch.compile, in which order with
DDP, where updates are marked for CUDA graphs, and a real compiled run (the steady state
without graph break or recompile: test_core_trainer_compile_steady.py)."""

from __future__ import annotations

import logging
import os
import shutil
from typing import Any

import pytest
import torch

from noether.core.testing import (
    Marker,
    MseTrainer,
    RegressionDataset,
    make_config,
    make_model,
    make_trainer,
)
from noether.core.trainer.compiling import compiles_inside_ddp, update_start_marker


def _compiled_config(**options: object) -> dict[str, object]:
    return {"use_torch_compile": True, "compile_options": options}


@pytest.fixture
def compile_calls(monkeypatch):
    """The keyword arguments of every torch.compile call (which returns the module as is)."""
    calls = []

    def fake_compile(module, **kwargs):
        calls.append(kwargs)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    return calls


def test_compile_options_are_passed_to_torch_compile(compile_calls, caplog):
    config = make_config(
        max_updates=1, **_compiled_config(mode="reduce-overhead", dynamic=False, fullgraph=True)
    )
    with caplog.at_level(logging.INFO):
        make_trainer(config).train(make_model())
    assert compile_calls == [{"mode": "reduce-overhead", "dynamic": False, "fullgraph": True}]
    assert "mode reduce-overhead captures CUDA graphs on CUDA only: on cpu it" in caplog.text


def test_without_compile_options_torch_compile_gets_only_the_model(compile_calls):
    make_trainer(make_config(max_updates=1, use_torch_compile=True)).train(make_model())
    assert compile_calls == [{}]


@pytest.mark.parametrize(
    ("options", "world_size", "inside"),
    [
        ({"fullgraph": True}, 2, True),
        ({"fullgraph": True}, 1, False),
        ({"fullgraph": False}, 2, False),
        (None, 2, False),
    ],
)
def test_only_fullgraph_on_several_processes_compiles_inside_ddp(
    monkeypatch, options, world_size, inside
):
    order = []

    def fake_compile(module, **kwargs):
        order.append("compile")
        return Marker(module)

    class WrapTrainer(MseTrainer):
        def wrap_ddp(self, model):
            order.append("ddp")
            return Marker(model)

    monkeypatch.setattr(torch, "compile", fake_compile)
    monkeypatch.setattr("noether.core.trainer.base.get_world_size", lambda: world_size)
    fields: dict[str, Any] = {"max_updates": 1, "use_torch_compile": True}
    if options is not None:
        fields["compile_options"] = options
    trainer = make_trainer(make_config(**fields), trainer_cls=WrapTrainer)
    assert compiles_inside_ddp(trainer.config, world_size) is inside
    model = make_model()
    model.initialize(1)
    trainer.wrap_model(model)
    assert order == (["compile", "ddp"] if inside else ["ddp", "compile"])


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
        "noether.core.trainer.run.update_start_marker", lambda *_: lambda: events.append("mark")
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


class TagRecordingTrainer(MseTrainer):
    """Records torch's compile cache key tag at every step (where the model gets compiled)."""

    tags: list[str]

    def train_step(self, batch, model):
        self.tags.append(torch.compiler.config.cache_key_tag)
        return super().train_step(batch, model)


@pytest.mark.parametrize(
    ("precision", "compiled", "user_tag", "while_training"),
    [
        ("bfloat16", True, "", "autocast-bfloat16"),
        ("bfloat16", True, "mine", "mine+autocast-bfloat16"),
        ("float32", True, "mine", "mine"),
        ("bfloat16", False, "", ""),
    ],
)
def test_a_compiled_run_that_autocasts_keys_torchs_compile_caches_by_its_dtype(
    compile_calls, precision, compiled, user_tag, while_training
):
    """torch 2.11's AOTAutograd cache served a bfloat16 graph to a float16 run (on an H200):
    the dtype goes into the cache key tag while such a run trains, and the tag is restored."""
    config = make_config(max_updates=2, precision=precision, use_torch_compile=compiled)
    with torch.compiler.config.patch(cache_key_tag=user_tag):
        trainer = make_trainer(config, trainer_cls=TagRecordingTrainer)
        trainer.tags = []
        trainer.train(make_model())
        assert trainer.tags == [while_training, while_training]
        assert torch.compiler.config.cache_key_tag == user_tag
