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
    """Cp = 1 - 9/4 sin^2(theta) at unit surface vectors for a unit flow direction.

    Args:
        unit_points: (..., N, 3) unit vectors from the centre to the surface points.
        flow_direction: (..., 3) unit flow direction (one per leading index).

    Returns:
        (..., N) pressure coefficients.
    """
    cos_theta = (unit_points @ flow_direction.unsqueeze(-1)).squeeze(-1)
    return 1.0 - 2.25 * (1.0 - cos_theta**2)


class SphereFlowDataset(Dataset[dict[str, Tensor]]):
    """Items: `points` (N, 3), `flow_direction` (3,), `pressure_target` (N,), float32.

    A batch is generated at once (`__getitems__`, which the DataLoader calls with a batch's
    indices): each sample's random numbers are drawn from its own generator as before, and the
    geometry is computed for the whole batch in a few tensor operations instead of a few per
    sample, which was most of the time the loader spent.
    """

    def __init__(self, config: SphereFlowDatasetConfig) -> None:
        self.config = config

    def __len__(self) -> int:
        return self.config.num_samples

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: list[int]) -> list[dict[str, Tensor]]:
        """The samples at `indices`, generated together (the same as one at a time)."""
        cfg = self.config
        radii = np.empty(len(indices))
        # per sample: the flow direction (3 values), then the points (num_points x 3), drawn
        # by one call (a generator's normal draws continue where the last call stopped)
        normals = np.empty((len(indices), 3 * (1 + cfg.num_points)))
        for row, index in enumerate(indices):
            if not 0 <= index < len(self):
                raise IndexError(f"sample {index} out of range (num_samples={len(self)})")
            # (seed, index) seeds the sample: the same sample in every epoch, worker, run and
            # batch, and different splits never share one (torch's generator would only use
            # 32 bits).
            rng = np.random.default_rng((cfg.seed, index))
            radii[row] = rng.uniform(cfg.radius_min, cfg.radius_max)
            rng.standard_normal(out=normals[row])
        normals32 = torch.from_numpy(normals.astype(np.float32))
        direction = normals32[:, :3]
        direction = direction / direction.norm(dim=1, keepdim=True)
        unit = normals32[:, 3:].view(len(indices), cfg.num_points, 3)
        unit = unit / unit.norm(dim=2, keepdim=True)
        points = torch.from_numpy(radii.astype(np.float32))[:, None, None] * unit
        pressure = pressure_coefficient(unit, direction)
        return [
            {"points": p, "flow_direction": d, "pressure_target": c}
            for p, d, c in zip(points, direction, pressure, strict=True)
        ]
