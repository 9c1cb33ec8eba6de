"""The quickstart's sphere-flow dataset and model (examples/quickstart/sphere_flow)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart"


@pytest.fixture
def sphere_flow(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(QUICKSTART))
    import sphere_flow.configs
    import sphere_flow.dataset
    import sphere_flow.model

    return sphere_flow


def _dataset(sphere_flow, **values):
    config = sphere_flow.configs.SphereFlowDatasetConfig(
        kind="sphere_flow.configs:SphereFlowDatasetConfig", **{"num_samples": 8, **values}
    )
    return sphere_flow.dataset.SphereFlowDataset(config)


def test_pressure_is_one_at_the_stagnation_points_and_minus_five_quarters_at_the_equator(
    sphere_flow,
):
    direction = torch.tensor([0.0, 0.0, 1.0])
    unit = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    cp = sphere_flow.dataset.pressure_coefficient(unit, direction)
    assert cp.tolist() == pytest.approx([1.0, 1.0, -1.25, -1.25])
    # Cp = 1 - 9/4 sin^2(theta) at theta = 30 degrees
    tilted = torch.tensor([[math.sin(math.pi / 6), 0.0, math.cos(math.pi / 6)]])
    expected = 1 - 9 / 4 * math.sin(math.pi / 6) ** 2
    assert sphere_flow.dataset.pressure_coefficient(tilted, direction).item() == pytest.approx(
        expected, abs=1e-6
    )


def test_samples_lie_on_spheres_with_the_exact_pressure(sphere_flow):
    dataset = _dataset(sphere_flow, num_points=64, radius_min=0.5, radius_max=1.5)
    for index in range(len(dataset)):
        item = dataset[index]
        assert item["points"].shape == (64, 3)
        assert item["pressure_target"].shape == (64,)
        radii = item["points"].norm(dim=1)
        assert torch.allclose(radii, radii[0].expand(64), atol=1e-5)
        assert 0.5 <= radii[0].item() <= 1.5
        assert item["flow_direction"].norm().item() == pytest.approx(1.0, abs=1e-6)
        cos = (item["points"] / radii[:, None]) @ item["flow_direction"]
        assert torch.allclose(item["pressure_target"], 1 - 2.25 * (1 - cos**2), atol=1e-5)


def test_samples_are_deterministic_per_index_and_splits_differ(sphere_flow):
    first, again = _dataset(sphere_flow, seed=0), _dataset(sphere_flow, seed=0)
    other = _dataset(sphere_flow, seed=1)
    for index in range(len(first)):
        assert torch.equal(first[index]["points"], again[index]["points"])
        assert not torch.equal(first[index]["points"], other[index]["points"])
    assert not torch.equal(first[0]["flow_direction"], first[1]["flow_direction"])
    with pytest.raises(IndexError):
        first[len(first)]


def test_a_batch_generated_at_once_holds_the_samples_one_at_a_time(sphere_flow):
    dataset = _dataset(sphere_flow, num_samples=40, num_points=16, seed=3)
    indices = [7, 0, 39, 7, 12]
    batch = dataset.__getitems__(indices)
    assert len(batch) == len(indices)
    for index, item in zip(indices, batch, strict=True):
        alone = dataset[index]
        assert set(item) == set(alone) == {"points", "flow_direction", "pressure_target"}
        for key, value in alone.items():
            assert torch.equal(item[key], value), (index, key)
    # the draws per sample are those of numpy's generator seeded with (seed, index)
    rng = np.random.default_rng((3, 12))
    radius = rng.uniform(0.5, 1.5)
    direction = torch.from_numpy(rng.standard_normal(3).astype(np.float32))
    assert torch.equal(batch[4]["flow_direction"], direction / direction.norm())
    assert batch[4]["points"].norm(dim=1).mean().item() == pytest.approx(radius, rel=1e-5)
    with pytest.raises(IndexError):
        dataset.__getitems__([0, 40])


def test_dataset_schema_refuses_an_empty_radius_range(sphere_flow):
    with pytest.raises(ValueError, match="radius_min"):
        _dataset(sphere_flow, radius_min=2.0, radius_max=1.0)


def test_model_returns_a_pressure_field_per_point(sphere_flow):
    config = sphere_flow.configs.SphereFlowModelConfig(
        kind="sphere_flow.configs:SphereFlowModelConfig", hidden_dim=8, num_hidden_layers=2
    )
    model = sphere_flow.model.SphereFlowModel(config)
    output = model(torch.randn(3, 10, 3), torch.randn(3, 3))
    assert set(output) == {"pressure"}
    assert output["pressure"].shape == (3, 10)
