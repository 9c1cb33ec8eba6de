"""A synthetic regression dataset generated from the sample index."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from acme_surrogates.configs import AcmeWavesConfig


class AcmeWaves(Dataset[dict[str, Tensor]]):
    """Items {x: (2,), signal: ()} with signal = sin(3 x0) + 0.5 x1."""

    def __init__(self, config: AcmeWavesConfig) -> None:
        self.config = config

    def __len__(self) -> int:
        return self.config.num_samples

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        rng = np.random.default_rng((self.config.seed, index))
        x = torch.from_numpy(rng.uniform(-1.0, 1.0, 2).astype(np.float32))
        return {"x": x, "signal": torch.sin(3 * x[0]) + 0.5 * x[1]}
