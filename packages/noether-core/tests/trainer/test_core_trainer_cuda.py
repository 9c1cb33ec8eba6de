"""CUDA paths of the loop (run where a GPU exists): float16 with a gradient scaler, pinned
memory and device transfer, no host-device sync per update in the steady state, and CUDA
graphs (torch.compile's reduce-overhead mode)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from noether.core import BaseTrainer
from noether.core.data.container import DataContainer
from noether.core.testing import (
    MseTrainer,
    RecordingTracker,
    RegressionDataset,
    make_config,
    make_model,
    make_trainer,
)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_float16_on_cuda_trains_with_a_grad_scaler():
    data = RegressionDataset(64)
    model = make_model(lr=0.05)
    trainer = MseTrainer(
        make_config(max_epochs=10, precision="float16"),
        DataContainer({"train": data}),
        "cuda",
        RecordingTracker(),
        None,
    )
    assert trainer.precision is torch.float16
    assert trainer.grad_scaler is not None
    loader = trainer.get_data_loader([], 8)
    assert loader.pin_memory
    batch = next(iter(loader))  # in this process (no workers): RunDataLoader pins it
    assert all(value.is_pinned() for value in batch.values())
    trainer.train(model)
    assert next(model.parameters()).is_cuda
    with torch.no_grad():
        loss = torch.nn.functional.mse_loss(model(data.x.cuda()), data.y.cuda()).item()
    assert loss < 1.0
    assert "grad_scaler" in trainer.state_dict()


class PlainMse(BaseTrainer):
    """Mean squared error, reading nothing on the host (unlike MseTrainer, whose `.item()`
    per step is a sync)."""

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        return torch.nn.functional.mse_loss(forward_output, targets["y"])


class ReadingMse(PlainMse):
    """Reads every loss on the host: the control that the check sees a sync."""

    def loss_compute(self, forward_output: Any, targets: dict[str, torch.Tensor]) -> Any:
        loss = super().loss_compute(forward_output, targets)
        if loss.item() < 0:
            raise AssertionError
        return loss


WARM_UP, CHECKED = 3, 6
"""Updates before the check (first-use allocations, cuBLAS set-up), and updates checked."""


def _run_sync_checked(
    monkeypatch: pytest.MonkeyPatch, trainer_cls: type[BaseTrainer] = PlainMse, **config: Any
) -> BaseTrainer:
    """A run with the default callbacks whose updates WARM_UP + 1 .. WARM_UP + CHECKED run
    under `torch.cuda.set_sync_debug_mode("error")`: any host-device sync there raises. The
    log and track intervals are longer than the run, so no read is due in the window; the
    window covers each update's micro-batches, its callbacks and the loading of the next
    batch, and ends before the last update (the end of training reads, as it should)."""
    trainer = make_trainer(
        make_config(
            max_updates=WARM_UP + CHECKED + 1,
            add_default_callbacks=True,
            log_every_n_updates=1000,
            track_every_n_updates=1000,
            **config,
        ),
        {"train": RegressionDataset(8 * 20)},  # 20 updates an epoch: no epoch end
        trainer_cls=trainer_cls,
        device="cuda",
    )
    update = trainer.update

    def checked(batch: Any, dist_model: Any, model: Any, steps: int, index: int, *rest: Any):
        if index == 0:
            starting = trainer.update_counter.update + 1
            if starting == WARM_UP + 1:
                torch.cuda.set_sync_debug_mode("error")
            elif starting == WARM_UP + CHECKED + 1:
                torch.cuda.set_sync_debug_mode("default")
        try:
            return update(batch, dist_model, model, steps, index, *rest)
        except BaseException:
            torch.cuda.set_sync_debug_mode("default")  # the error handling may read
            raise

    monkeypatch.setattr(trainer, "update", checked)
    try:
        trainer.train(make_model())
    finally:
        torch.cuda.set_sync_debug_mode("default")
    return trainer


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({}, id="default"),
        pytest.param({"skip_nan_loss": True}, id="skip_nan_loss"),
        pytest.param({"skip_nan_loss": True, "max_batch_size": 3}, id="skip_nan_loss-3+3+2"),
    ],
)
def test_no_host_device_sync_per_update_in_the_steady_state(monkeypatch, config):
    trainer = _run_sync_checked(monkeypatch, **config)
    assert trainer.update_counter.update == WARM_UP + CHECKED + 1


def test_the_sync_check_sees_a_host_read(monkeypatch):
    with pytest.raises(RuntimeError, match="synchronizing CUDA operation"):
        _run_sync_checked(monkeypatch, trainer_cls=ReadingMse)


def test_reduce_overhead_cuda_graphs_train_like_eager():
    """CUDA graphs with gradient accumulation over uneven micro-batches (5 + 4 + 4): the
    trainer marks each update's start, so the first micro-batch's gradients (graph outputs)
    survive the later ones (see `noether.core.trainer.compiling`)."""
    data = {"train": RegressionDataset(52)}
    fields: dict[str, Any] = {"effective_batch_size": 13, "max_batch_size": 5, "max_updates": 8}
    eager, compiled = make_model(), make_model()
    make_trainer(make_config(**fields), data, trainer_cls=PlainMse, device="cuda").train(eager)
    torch.compiler.reset()  # other tests compiled the same forward
    options = {"mode": "reduce-overhead", "dynamic": False}
    config = make_config(use_torch_compile=True, compile_options=options, **fields)
    try:
        make_trainer(config, data, trainer_cls=PlainMse, device="cuda").train(compiled)
    finally:
        torch.compiler.reset()
    for a, b in zip(eager.parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
