"""Without a process group the distributed helpers behave like one process."""

from __future__ import annotations

import gc
import weakref

import torch
import torch.distributed as dist

from noether.core import distributed


def test_helpers_are_identity_without_a_process_group():
    assert not distributed.is_distributed()
    assert distributed.get_rank() == 0
    assert distributed.get_world_size() == 1
    assert distributed.is_rank0()
    distributed.barrier()
    tensor = torch.tensor([1.0, 2.0])
    assert distributed.all_reduce_sum(tensor) is tensor
    assert distributed.all_reduce_mean(tensor).tolist() == [1.0, 2.0]
    assert distributed.all_gather_object({"a": 1}) == [{"a": 1}]
    assert distributed.broadcast_object("x") == "x"


def test_leaving_collects_cycles_before_destroying_the_group(tmp_path):
    """Objects in reference cycles (a trainer, its callbacks, DDP's reducer) may hold the
    group: they are gone before it is destroyed."""

    class Node:
        pass

    dist.init_process_group("gloo", init_method=f"file://{tmp_path}/store", rank=0, world_size=1)
    gc.disable()  # only leave_process_group may collect the cycle
    try:
        node = Node()
        node.self = node
        ref = weakref.ref(node)
        del node
        assert ref() is not None
        distributed.leave_process_group()
        assert ref() is None
    finally:
        gc.enable()
        if dist.is_initialized():
            dist.destroy_process_group()
    assert not distributed.is_distributed()
    distributed.leave_process_group()  # without a group: nothing to do
