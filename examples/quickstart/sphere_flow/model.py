"""A point-wise MLP surrogate: (surface point, flow direction) -> pressure coefficient."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from noether.core.models import ModelBase
from sphere_flow.configs import SphereFlowModelConfig


class SphereFlowModel(ModelBase):
    """Predicts the `pressure` field at every point of a point cloud."""

    def __init__(self, model_config: SphereFlowModelConfig) -> None:
        super().__init__(model_config)
        width = model_config.hidden_dim
        layers: list[nn.Module] = [nn.Linear(6, width), nn.GELU()]
        for _ in range(model_config.num_hidden_layers - 1):
            layers += [nn.Linear(width, width), nn.GELU()]
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, points: Tensor, flow_direction: Tensor) -> dict[str, Tensor]:
        """points (B, N, 3), flow_direction (B, 3) -> {"pressure": (B, N)}."""
        direction = flow_direction[:, None, :].expand_as(points)
        features = torch.cat([points, direction], dim=-1)
        return {"pressure": self.mlp(features).squeeze(-1)}
