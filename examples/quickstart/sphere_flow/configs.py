"""Schemas of the sphere-flow dataset and model (torch-free: `noether-config validate` reads
them without importing torch)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, model_validator

from noether.config import DatasetConfig, ModelConfig


class SphereFlowDatasetConfig(DatasetConfig):
    """Point clouds on spheres of random radius in a uniform flow of random direction.

    Sample `i` is generated from `(seed, i)` alone, so a split is reproducible without files
    and two splits with different seeds do not share samples.
    """

    target: ClassVar[str] = "sphere_flow.dataset:SphereFlowDataset"

    num_samples: int = Field(ge=1)
    """Number of spheres in this split."""
    num_points: int = Field(default=128, ge=1)
    """Surface points per sphere (the same for all, so batches stack)."""
    seed: int = Field(default=0, ge=0)
    """Seed of this split; use a different one for every split."""
    radius_min: float = Field(default=0.5, gt=0)
    """Smallest sphere radius."""
    radius_max: float = Field(default=1.5, gt=0)
    """Largest sphere radius."""

    @model_validator(mode="after")
    def validate_radius_range(self) -> SphereFlowDatasetConfig:
        """The radius range is not empty."""
        if self.radius_min > self.radius_max:
            raise ValueError(
                f"radius_min ({self.radius_min}) is larger than radius_max ({self.radius_max})"
            )
        return self


class SphereFlowModelConfig(ModelConfig):
    """A point-wise MLP that maps a surface point and the flow direction to the pressure."""

    target: ClassVar[str] = "sphere_flow.model:SphereFlowModel"

    hidden_dim: int = Field(default=64, ge=1)
    """Width of the hidden layers."""
    num_hidden_layers: int = Field(default=3, ge=1)
    """Number of hidden layers."""
