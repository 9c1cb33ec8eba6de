"""On three ranks, the first update of a process reduces its gradients as every later one does.

DDP lays out its gradient buckets anew after the first backward of a process, and a sum over
three or more ranks depends on where a value lies in a bucket, so a run resumed at update N
summed update N+1 differently from the uninterrupted run (weights and losses apart by a
rounding error from there on). Three forked gloo ranks wrap a model with `wrap_ddp` and
reduce the same gradients twice.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from noether.core.distributed import wrap_ddp
from noether.core.testing import end_rank, free_port

pytestmark = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="the ranks are forked"
)

WORLD_SIZE = 3


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    layers = [torch.nn.Linear(6, 48), torch.nn.GELU(), torch.nn.Linear(48, 48), torch.nn.GELU()]
    return torch.nn.Sequential(*layers, torch.nn.Linear(48, 1))


def _rank(out: Path, rank: int, port: int) -> None:
    """Two backward passes on the same batch through DDP; saves both gradients and the mean
    of the ranks' own gradients."""
    code = 1
    try:
        torch.set_num_threads(1)
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
        model = _model()
        wrapped = wrap_ddp(model, torch.device("cpu"))
        batch = torch.randn(32, 6, generator=torch.Generator().manual_seed(rank))
        grads = []
        for _ in range(2):
            model.zero_grad()
            wrapped(batch).pow(2).mean().backward()
            grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
        model.zero_grad()
        model(batch).pow(2).mean().backward()
        mean = [p.grad for p in model.parameters() if p.grad is not None]
        for grad in mean:
            dist.all_reduce(grad)
            grad /= WORLD_SIZE
        torch.save({"first": grads[0], "second": grads[1], "mean": mean}, out / f"{rank}.pt")
        code = 0
    finally:
        end_rank(code)


def test_the_first_update_of_three_ranks_sums_as_the_later_ones(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    importlib.import_module("torch._dynamo")  # what DDP's constructor imports, imported once
    context = multiprocessing.get_context("fork")
    port = free_port()
    ranks = [context.Process(target=_rank, args=(tmp_path, r, port)) for r in range(WORLD_SIZE)]
    for process in ranks:
        process.start()
    for process in ranks:
        process.join(60)
    for process in ranks:
        if process.is_alive():
            process.kill()
    assert [process.exitcode for process in ranks] == [0] * WORLD_SIZE
    result = torch.load(tmp_path / "0.pt", weights_only=True)
    for first, second, mean in zip(result["first"], result["second"], result["mean"], strict=True):
        assert torch.equal(first, second)  # DDP's own hook: not equal on 3 ranks
        torch.testing.assert_close(second, mean)
