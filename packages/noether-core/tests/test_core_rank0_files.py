"""With two real gloo processes, both share one run folder and only rank 0 writes files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

WORKER = """
import json, sys
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.distributed as dist

from noether.config.schemas.tracker import JsonlTrackerConfig
from noether.core.build import create_path_provider
from noether.core.checkpoint.writer import CheckpointWriter
from noether.core.trackers.jsonl import JsonlTracker
from noether.core.trackers.log_writer import LogWriter

rank, out = int(sys.argv[1]), Path(sys.argv[2])
dist.init_process_group("gloo", init_method=f"file://{out}/store", rank=rank, world_size=2)
provider = create_path_provider(SimpleNamespace(output_path=str(out / "runs"), name="ddp"))
tracker = JsonlTracker(JsonlTrackerConfig())
tracker.start(provider, {})
writer = LogWriter(tracker)
writer.add_scalar("loss/online/total", torch.tensor(float(rank)))
writer.flush(SimpleNamespace(update=1, epoch=0, sample=8))
tracker.close()
CheckpointWriter(provider).save(torch.nn.Linear(2, 2), None, "E0_U1_S8")
dist.barrier()
(out / f"rank{rank}.json").write_text(json.dumps({"run_id": provider.run_id}))
dist.destroy_process_group()
"""


def test_two_ranks_share_the_run_folder_and_only_rank0_writes(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(rank), str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [proc.communicate(timeout=180)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    run_ids = {json.loads((tmp_path / f"rank{r}.json").read_text())["run_id"] for r in (0, 1)}
    assert len(run_ids) == 1
    (run_dir,) = (tmp_path / "runs" / "ddp").iterdir()
    assert run_dir.name in run_ids
    rows = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(row)["loss/online/total"] for row in rows] == [0.0]  # rank 0's row only
    assert sorted(p.name for p in (run_dir / "checkpoints" / "E0_U1_S8").iterdir()) == [
        "checkpoint.json",
        "model.pt",
    ]
