"""Tiny map-style datasets whose items are `dict[str, Tensor]`, drawn once from a seed."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class RegressionDataset(Dataset[dict[str, torch.Tensor]]):
    """Items {x, y, __meta_index} with x in R^4 and y = x @ (1, -2, 0.5, 3) + 0.5.

    A LinearModel can fit it exactly; `__meta_index` shows that metadata never reaches the
    model.

    Args:
        length: number of items.
        seed: seeds the draw of x.
    """

    def __init__(self, length: int = 64, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(length, 4, generator=generator)
        self.y = self.x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.5

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y": self.y[index], "__meta_index": torch.tensor(index)}


class PairDataset(Dataset[dict[str, torch.Tensor]]):
    """Items {x, y} with x in R^4 (plus `offset`) and y the sum of x.

    Args:
        length: number of items.
        seed: seeds the draw of x.
        offset: added to every x (a second set that differs from the first).
    """

    def __init__(self, length: int = 32, seed: int = 0, offset: float = 0.0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(length, 4, generator=generator) + offset
        self.y = self.x.sum(dim=1, keepdim=True)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[index], "y": self.y[index]}


class IndexedDataset(PairDataset):
    """PairDataset items that also carry their index and, optionally, fresh random noise.

    `idx` lets an evaluation check which items it saw and in which order; `__meta_index` is
    dropped before the model; `noise` (with `noise=True`) is drawn from torch's global
    generator at every read, so it repeats only when the reading process is seeded alike
    (data-loader workers).

    Args:
        length: number of items.
        seed: seeds the draw of x.
        offset: added to every x.
        noise: adds a `noise` key drawn at every read.
    """

    def __init__(
        self, length: int = 32, seed: int = 0, offset: float = 0.0, noise: bool = False
    ) -> None:
        super().__init__(length, seed, offset)
        self.noise = noise

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = super().__getitem__(index)
        item["idx"] = torch.tensor(index)
        item["__meta_index"] = torch.tensor(index)
        if self.noise:
            item["noise"] = torch.rand(1)
        return item


class FieldsDataset(Dataset[dict[str, torch.Tensor]]):
    """Items {x, pressure_target, velocity_target}: linear functions of x in R^2.

    The targets of FieldsModel's fields (pressure 4 values, velocity 4 x 3).

    Args:
        length: number of items.
        seed: seeds the draw of x.
        drop: keys left out of every item (a batch that lacks a target).
    """

    def __init__(self, length: int = 32, seed: int = 0, drop: tuple[str, ...] = ()) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(length, 2, generator=generator)
        self.pressure = self.x @ torch.tensor([[1.0, -1.0, 0.5, 2.0], [0.3, 0.2, -0.7, 1.0]])
        self.velocity = (self.x @ torch.full((2, 12), 0.25)).view(length, 4, 3)
        self.drop = drop

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {
            "x": self.x[index],
            "pressure_target": self.pressure[index],
            "velocity_target": self.velocity[index],
        }
        return {key: value for key, value in item.items() if key not in self.drop}
