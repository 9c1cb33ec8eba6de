"""The project's own loss, published under the `noether.losses` entry-point group."""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor


def log_cosh(input: Tensor, target: Tensor) -> Tensor:
    """Mean log(cosh(input - target)): quadratic for small errors, linear for large ones."""
    diff = input - target
    # log(cosh(d)) = |d| + softplus(-2|d|) - log(2), stable for large |d|
    return (diff.abs() + F.softplus(-2.0 * diff.abs()) - math.log(2.0)).mean()
