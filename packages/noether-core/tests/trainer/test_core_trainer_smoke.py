"""The seed's docstring trainer (only loss_compute) trains until its loss falls."""

from __future__ import annotations

import torch


def test_subclass_with_only_loss_compute_trains_until_loss_falls(kit, path_provider, tracker):
    data = kit.RegressionDataset(64)
    model = kit.make_model(lr=0.05)
    with torch.no_grad():
        before = torch.nn.functional.mse_loss(model(data.x), data.y).item()
    trainer = kit.make_trainer(
        kit.make_config(max_epochs=20), {"train": data}, tracker, path_provider, kit.MseTrainer
    )
    trainer.train(model)
    with torch.no_grad():
        after = torch.nn.functional.mse_loss(model(data.x), data.y).item()
    assert trainer.update_counter.update == 20 * 8
    assert after < before * 0.05
