"""Without a process group the distributed helpers behave like one process."""

from __future__ import annotations

import torch

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
