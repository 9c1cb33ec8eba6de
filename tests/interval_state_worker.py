"""One rank of test_interval_state_ranks: loads a mid-interval state, then saves at once."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import torch.distributed as dist

from noether.callbacks.track_outputs import TrackOutputsCallback
from noether.config.schemas.callbacks import TrackOutputsCallbackConfig
from noether.core.callbacks.default.online_loss import OnlineLossCallback
from noether.core.testing import CallbackHarness


def main(out: Path) -> None:
    dist.init_process_group("gloo", timeout=timedelta(seconds=20))
    rank = dist.get_rank()
    h = CallbackHarness()
    online = OnlineLossCallback(None, h.context, every_n_updates=4)
    outputs = TrackOutputsCallback(
        TrackOutputsCallbackConfig(keys=["error"], every_n_updates=4), h.context
    )
    # what a checkpoint in the middle of the interval holds (sums over both ranks)
    online.load_state_dict({"track": {"total": [6.0, 3.0]}})
    outputs.load_state_dict({"sums": {"error": 1.5}, "count": 3})
    # saved again before any step: rank 0 holds the interval, rank 1 holds nothing
    saved = {"online": online.state_dict(), "outputs": outputs.state_dict()}
    (out / f"rank{rank}.json").write_text(json.dumps(saved))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
