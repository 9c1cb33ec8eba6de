"""`save_optim` / `save_latest_optim` write the weights too, so the checkpoint resumes.

The callbacks README's own example (`save_optim: true, save_latest_optim: true`) gave a
`latest/` with optim.pt and trainer.pt but no model.pt: `--resume RUN --checkpoint latest`
refused it ("holds no model weights"), and `save_weights: false, save_optim: true` wrote
tagged checkpoints that no resume could use either. Optimizer and trainer state now always
go with the weights they belong to.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, noether_train, run_dirs

CALLBACKS = (
    "trainer.callbacks=[{kind: checkpoint, every_n_updates: 5, save_weights: false, "
    "save_optim: true, save_latest_optim: true}]"
)
UNIT = ["checkpoint.json", "model.pt", "optim.pt", "trainer.pt"]


def test_optimizer_state_is_written_with_its_weights_and_resumes(tmp_path: Path) -> None:
    first = noether_train(tmp_path, CONFIG, CALLBACKS, "trainer.max_epochs=1")  # 12 updates
    assert first.returncode == 0, first.stderr
    (run_dir,) = run_dirs(tmp_path)
    checkpoints = run_dir / "checkpoints"
    for tag in ("E0_U5_S40", "E0_U10_S80", "latest"):
        assert sorted(p.name for p in (checkpoints / tag).iterdir()) == UNIT, tag

    resumed = noether_train(tmp_path, "--resume", run_dir, "--checkpoint", "latest")
    assert resumed.returncode == 0, resumed.stderr
    assert "from checkpoint latest (epoch 0, update 10, sample 80)" in resumed.stderr
