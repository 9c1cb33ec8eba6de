"""The `track_outputs` kind: logs chosen additional_outputs of the trainer, interval means."""

from __future__ import annotations

from typing import Any

import torch

from noether.config.schemas.callbacks import TrackOutputsCallbackConfig
from noether.core.callbacks.base import CallbackContext, PeriodicCallback
from noether.core.callbacks.errors import CallbackConfigError
from noether.core.distributed import all_reduce_sum, is_rank0


class TrackOutputsCallback(PeriodicCallback):
    """Averages `additional_outputs[key]` over every micro-batch (and rank) of an interval.

    Values may be numbers or tensors (their mean is used); they are summed on the device and
    only converted when logged. Each key is logged as `outputs/<key>`.
    """

    def __init__(
        self, callback_config: TrackOutputsCallbackConfig, context: CallbackContext
    ) -> None:
        super().__init__(callback_config, context)
        self.keys = list(callback_config.keys)
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def track_after_accumulation_step(
        self,
        losses: dict[str, torch.Tensor] | None,
        additional_outputs: dict[str, Any] | None,
        accumulation_step: int,
        accumulation_steps: int,
    ) -> None:
        """Adds this micro-batch's values to the interval sums."""
        if additional_outputs is None:  # TrainerResult(loss): no outputs at all
            additional_outputs = {}
        missing = [key for key in self.keys if key not in additional_outputs]
        if missing:
            available = ", ".join(sorted(additional_outputs)) or "none"
            raise CallbackConfigError(
                f"track_outputs: the trainer's additional_outputs have no {', '.join(missing)} "
                f"(available: {available})",
                self.config_key_path("keys"),
            )
        for key in self.keys:
            value = torch.as_tensor(additional_outputs[key]).detach()
            mean = value.float().mean().to(torch.float64)
            self.sums[key] = self.sums[key] + mean if key in self.sums else mean
        self.count += 1

    def periodic_callback(self) -> None:
        """Logs the means since the last call and starts a new interval."""
        if not self.sums:
            return
        values = torch.stack([self.sums[key].to(self.device) for key in self.keys])
        count = values.new_tensor([float(self.count)])
        totals = all_reduce_sum(torch.cat([values, count]))
        for key, value in zip(self.keys, totals[:-1] / totals[-1], strict=True):
            self.log_writer.add_scalar(f"outputs/{key}", value)
        self.sums = {}
        self.count = 0

    def state_dict(self) -> dict[str, Any]:
        """The running sums and count of the current interval, summed over ranks (every rank
        calls it): the checkpoint holds rank 0's state only, and the other ranks' part of an
        interval cut by the checkpoint must not be lost (or replaced by rank 0's) on resume."""
        # every rank reduces, whatever it holds: after a resume only rank 0 holds sums
        zero = torch.zeros((), dtype=torch.float64)
        values = [self.sums.get(key, zero).to(self.device) for key in self.keys]
        packed = torch.stack([*values, torch.tensor(float(self.count), device=self.device)])
        totals = all_reduce_sum(packed.double()).tolist()
        if not totals[-1]:
            return {"sums": {}, "count": 0}
        return {"sums": dict(zip(self.keys, totals[:-1], strict=True)), "count": int(totals[-1])}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the interval's sums over all ranks on rank 0; the other ranks start from
        zero, so that the reduction when logged counts each step once."""
        if not is_rank0():
            self.sums, self.count = {}, 0
            return
        self.sums = {k: torch.tensor(v, dtype=torch.float64) for k, v in state_dict["sums"].items()}
        self.count = int(state_dict["count"])
