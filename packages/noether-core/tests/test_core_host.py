"""host_values: device scalars read on the host, in order, whatever their dtype or graph."""

from __future__ import annotations

import pytest
import torch

from noether.core.host import host_values


def test_nothing_to_read_gives_an_empty_list() -> None:
    assert host_values([]) == []


def test_scalars_are_read_in_order_as_floats_with_their_graph_left_alone() -> None:
    weight = torch.tensor(2.0, requires_grad=True)
    scalars = [weight * 3, torch.tensor([0.5]), torch.tensor(7, dtype=torch.int64)]
    values = host_values(scalars)
    assert values == [6.0, 0.5, 7.0]
    assert scalars[0].requires_grad  # nothing detached or recorded in place


def test_non_finite_values_come_through() -> None:
    values = host_values([torch.tensor(float("nan")), torch.tensor(float("inf"))])
    assert values[0] != values[0] and values[1] == float("inf")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_mixed_dtypes_are_read_in_one_transfer() -> None:
    scalars = [
        torch.tensor(1.5, device="cuda", dtype=torch.bfloat16),
        torch.tensor([2.25], device="cuda"),
        torch.tensor(3.0, device="cuda", requires_grad=True) * 2,
    ]
    assert host_values(scalars) == [1.5, 2.25, 6.0]
