"""`noether-train --resume` on another number of ranks than the run had is refused by name
(other random numbers, another order of the gradients' sums), unless forced; a launch
environment that names no place in a job is refused with the variable, before anything runs;
notes on the config are printed once, by rank 0; so is a refused resume.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
import yaml
from resume_testing import CONFIG, NOETHER_TRAIN, TORCHRUN, environment, noether_train, run_dirs

from noether.core.resume import plan_resume

EPOCH_CHECKPOINT = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1, save_optim: true}]"


def _on_two_ranks(cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`noether-train ARGS` under torchrun with two processes."""
    return subprocess.run(
        [
            str(TORCHRUN),
            "--standalone",
            "--nproc-per-node",
            "2",
            str(NOETHER_TRAIN),
            *map(str, args),
        ],
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_resume_on_another_number_of_ranks_is_refused_by_name_unless_forced(
    tmp_path: Path,
) -> None:
    trained = noether_train(tmp_path, CONFIG, "trainer.max_epochs=1", EPOCH_CHECKPOINT)
    assert trained.returncode == 0, trained.stderr
    (run_dir,) = run_dirs(tmp_path)
    before = sorted(p.name for p in run_dir.rglob("*"))

    refused = _on_two_ranks(tmp_path, "--resume", run_dir, "trainer.max_epochs=2")
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.count("world size (processes): 1 -> 2") == 1  # said once
    assert refused.stderr.count("exitcode  : 1 ") == 2  # both ranks exit 1 themselves
    assert "--force" in refused.stderr
    assert "noether/core/" not in refused.stderr  # no frames of ours (torchrun prints its own)
    assert sorted(p.name for p in run_dir.rglob("*")) == before

    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    forced = plan_resume(run_dir, None, config, force=True, world_size=2)
    assert [str(change) for change in forced.forced] == ["world size (processes): 1 -> 2"]
    assert plan_resume(run_dir, None, config, force=False, world_size=1).forced == []


def test_a_launch_environment_without_a_place_in_the_job_is_refused_by_variable(
    tmp_path: Path,
) -> None:
    for launch, message in (
        ({"WORLD_SIZE": "2"}, "WORLD_SIZE='2' is set but RANK is not"),
        ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x' is not a whole number"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK='2' is out of range (it must be from 0 to 1)"),
    ):
        result = subprocess.run(
            [str(NOETHER_TRAIN), str(CONFIG)],
            cwd=tmp_path,
            env={
                key: value
                for key, value in environment(**launch).items()
                if key not in ("RANK", "WORLD_SIZE") or key in launch
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1, result.stderr
        assert f"noether-train: launch environment: {message}" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()  # each process would have trained alone


def test_notes_on_the_config_are_printed_by_rank_0_only(tmp_path: Path) -> None:
    never_runs = "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 9}]"  # after the end
    printed = {}
    for rank in ("0", "1"):
        result = subprocess.run(
            [str(NOETHER_TRAIN), "--print-config", str(CONFIG), never_runs],
            cwd=tmp_path,
            env=environment(RANK=rank, WORLD_SIZE="2"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        printed[rank] = result.stderr.count("noether-train: note:")
    assert printed == {"0": 1, "1": 0}
