"""use_torch_compile with compile_options: what reaches torch.compile, and a real compiled run."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from noether.core.testing import RegressionDataset, make_config, make_model, make_trainer


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


def _has_cpp_compiler() -> bool:
    return any(shutil.which(name) for name in (os.environ.get("CXX", "g++"), "c++", "clang++"))


@pytest.mark.skipif(
    not _has_cpp_compiler(), reason="torch.compile's inductor needs a C++ compiler on the CPU"
)
def test_a_compiled_run_on_cpu_matches_the_eager_run():
    data = {"train": RegressionDataset(32)}
    eager, compiled = make_model(), make_model()
    make_trainer(make_config(max_updates=3), data).train(eager)
    config = make_config(max_updates=3, **_compiled_config(mode="default", dynamic=False))
    make_trainer(config, data).train(compiled)
    for a, b in zip(eager.parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
