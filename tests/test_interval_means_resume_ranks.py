"""`track_outputs` and the online loss on 2 gloo ranks, resumed from a checkpoint in the middle of
their interval: they log the same interval means as the uninterrupted run. The checkpoint holds
rank 0's callback state only, so the interval's sums over all ranks must be what it saves
(before: rank 1's part was replaced by rank 0's, and the mean at the end of the interval
changed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from noether.core.testing import free_port

EXAMPLES = Path(__file__).parents[1] / "examples" / "quickstart"
BIN = Path(sys.executable).parent
KEYS = ("outputs/pressure_max_abs_error", "loss/online/total")
CONFIG = """\
name: track
output_path: runs
seed: 0
device: cpu
num_threads: 1
datasets:
  train: {kind: sphere_flow.configs:SphereFlowDatasetConfig, num_samples: 32, num_points: 8}
model:
  kind: sphere_flow.configs:SphereFlowModelConfig
  hidden_dim: 8
  num_hidden_layers: 1
  optimizer: {kind: sgd, lr: 1.0e-2}
trainer:
  kind: callbacks_demo.configs:ErrorReportingTrainerConfig
  max_updates: 8
  track_every_n_updates: 4
  log_every_n_updates: 4
  effective_batch_size: 8
  forward_properties: [points, flow_direction]
  field_weights: {pressure: 1.0}
  callbacks:
    - {kind: track_outputs, keys: [pressure_max_abs_error], every_n_updates: 4}
    - {kind: checkpoint, every_n_updates: 2, save_optim: true}
tracker: {kind: jsonl}
"""


def _torchrun(cwd: Path, *args: str) -> None:
    command = [str(BIN / "torchrun"), "--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    command += ["--master-port", str(free_port()), str(BIN / "noether-train"), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def _logged(run: Path) -> list[tuple[int, float, float]]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(row["update"], *(row[key] for key in KEYS)) for row in rows if KEYS[0] in row]


def test_interval_means_resumed_mid_interval_on_two_ranks_logs_the_same_means(
    tmp_path: Path,
) -> None:
    for package in ("sphere_flow", "callbacks_demo"):
        shutil.copytree(EXAMPLES / package, tmp_path / package)
    (tmp_path / "config.yaml").write_text(CONFIG)
    _torchrun(tmp_path, "config.yaml", "--run-id", "full")
    full, cut = tmp_path / "runs/track/full", tmp_path / "runs/track/cut"
    shutil.copytree(full, cut)
    for later in ("E1_U4_S32", "E1_U6_S48", "E2_U8_S64"):
        shutil.rmtree(cut / "checkpoints" / later)
    _torchrun(tmp_path, "--resume", str(cut), "--checkpoint", "E0_U2_S16")
    expected = _logged(full)
    assert [row[0] for row in expected] == [4, 8]
    resumed = _logged(cut)
    assert [row[0] for row in resumed] == [4, 8]
    for key in (1, 2):  # track_outputs' and the online loss's interval means
        got, want = [row[key] for row in resumed], [row[key] for row in expected]
        assert got == pytest.approx(want, rel=1e-9)
