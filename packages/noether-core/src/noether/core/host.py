"""Reading scalars of the device on the host: the one rule for how they are transferred.

On an accelerator every read waits for the device, so scalars are stacked there and moved
in one transfer. On the CPU nothing waits and there is no transfer to batch: each scalar is
read on its own, which costs less than stacking them first (`tools/bench/loop_overhead.py`,
workload A, where the default callbacks read the losses every other update).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def host_values(scalars: Sequence[Tensor]) -> list[float]:
    """The values of one-element tensors on one device, in order, as floats.

    Nothing is recorded for autograd (tensors that require grad are read as they are).
    """
    if not scalars:
        return []
    if scalars[0].device.type == "cpu":
        return [scalar.item() for scalar in scalars]
    dtype = scalars[0].dtype
    same = all(scalar.dtype == dtype for scalar in scalars)
    with torch.no_grad():
        stacked = torch.stack(
            [scalar.reshape(()) if same else scalar.reshape(()).double() for scalar in scalars]
        )
    values: list[float] = stacked.tolist()
    return values
