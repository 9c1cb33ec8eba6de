"""A small MLP model."""

from __future__ import annotations

from torch import Tensor, nn

from acme_surrogates.configs import AcmeMlpConfig
from noether.core.models import ModelBase


class AcmeMlp(ModelBase):
    """x (B, 2) -> signal (B,)."""

    def __init__(self, model_config: AcmeMlpConfig) -> None:
        super().__init__(model_config)
        width = model_config.hidden_dim
        self.net = nn.Sequential(nn.Linear(2, width), nn.Tanh(), nn.Linear(width, 1))

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.net(x)  # nn.Module calls are typed Any; named, mypy --strict passes
        return out.squeeze(-1)
