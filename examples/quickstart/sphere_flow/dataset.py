"""Surface pressure of potential flow around a sphere, generated from the sample index.

For a uniform flow of direction d around a sphere (centre c, radius r), the surface pressure
coefficient of potential flow is Cp = 1 - 9/4 sin^2(theta), with theta the angle between d and
p - c for the surface point p. The spheres here are centred at the origin.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from sphere_flow.configs import SphereFlowDatasetConfig


def pressure_coefficient(unit_points: Tensor, flow_direction: Tensor) -> Tensor:
    """Cp = 1 - 9/4 sin^2(theta) at unit surface vectors for a unit flow direction."""
    cos_theta = unit_points @ flow_direction
    return 1.0 - 2.25 * (1.0 - cos_theta**2)


class SphereFlowDataset(Dataset[dict[str, Tensor]]):
    """Items: `points` (N, 3), `flow_direction` (3,), `pressure_target` (N,), float32."""

    def __init__(self, config: SphereFlowDatasetConfig) -> None:
        self.config = config

    def __len__(self) -> int:
        return self.config.num_samples

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range (num_samples={len(self)})")
        cfg = self.config
        # (seed, index) seeds the sample: the same sample in every epoch, worker and run, and
        # different splits never share one (torch's generator would only use 32 bits).
        rng = np.random.default_rng((cfg.seed, index))
        radius = float(rng.uniform(cfg.radius_min, cfg.radius_max))
        direction = torch.from_numpy(rng.standard_normal(3).astype(np.float32))
        direction = direction / direction.norm()
        unit = torch.from_numpy(rng.standard_normal((cfg.num_points, 3)).astype(np.float32))
        unit = unit / unit.norm(dim=1, keepdim=True)
        return {
            "points": radius * unit,
            "flow_direction": direction,
            "pressure_target": pressure_coefficient(unit, direction),
        }
