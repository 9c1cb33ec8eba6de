"""The jsonl tracker's files damaged before `--resume` (summary.json emptied by a crash or
edited, a metrics line with bytes that are no UTF-8 or a row that is no row): the resume warns
naming the file and ends as the uninterrupted run did, each row once, instead of failing with
a bare parser message after it had already cut the rows back.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import finished_run, metrics, noether_train

ARGS = (
    "trainer.max_epochs=2",
    "trainer.callbacks=[{kind: checkpoint, every_n_epochs: 1, save_optim: true}]",
)


def empty_summary(run_dir: Path) -> None:
    (run_dir / "summary.json").write_text("")


def summary_of_a_list(run_dir: Path) -> None:
    (run_dir / "summary.json").write_text("[1, 2, 3]\n")


def bytes_that_are_no_utf8(run_dir: Path) -> None:
    with (run_dir / "metrics.jsonl").open("ab") as file:
        file.write(b'{"update": 30, "loss": 1.0\xff}\n')


def row_with_a_text_update(run_dir: Path) -> None:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines(keepends=True)
    lines.insert(3, '{"update": "five", "epoch": 0, "sample": 40, "loss/online/total": 1.0}\n')
    (run_dir / "metrics.jsonl").write_text("".join(lines))


def losses(run_dir: Path) -> list[tuple[int, float | None]]:
    """Each row's update and online loss: the timings of two runs differ."""
    return [(row["update"], row.get("loss/online/total")) for row in metrics(run_dir)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return finished_run(tmp_path_factory.mktemp("reference"), *ARGS)


@pytest.mark.parametrize(
    ("damage", "warning"),
    [
        (empty_summary, "summary.json cannot be read"),
        (summary_of_a_list, "summary.json holds no JSON object"),
        (bytes_that_are_no_utf8, "metrics.jsonl: dropped 1 line(s) that are no metrics row"),
        (row_with_a_text_update, "metrics.jsonl: dropped 1 line(s) that are no metrics row"),
    ],
    ids=lambda value: getattr(value, "__name__", "message"),
)
def test_a_damaged_tracker_file_is_rebuilt_and_the_resume_ends_as_the_uninterrupted_run(
    reference: Path, tmp_path: Path, damage: Callable[[Path], None], warning: str
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    shutil.rmtree(run_dir / "checkpoints" / "E2_U24_S192")  # as if stopped after epoch 1
    damage(run_dir)

    resumed = noether_train(tmp_path, "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert f"{run_dir}/{warning}" in resumed.stderr, resumed.stderr
    assert losses(run_dir) == losses(reference)
    summary = json.loads((run_dir / "summary.json").read_text())
    expected = json.loads((reference / "summary.json").read_text())
    assert summary["loss/online/total"] == expected["loss/online/total"]


def test_a_resume_whose_tracker_cannot_start_leaves_config_yaml_as_it_was(
    reference: Path, tmp_path: Path
) -> None:
    """A full disk or a tracker server that is down fails the start after the resumed config
    was recorded: a later plain `--resume` must not take this attempt's overrides."""
    run_dir = tmp_path / "run"
    shutil.copytree(reference, run_dir)
    shutil.rmtree(run_dir / "checkpoints" / "E2_U24_S192")
    (run_dir / "metrics.jsonl").unlink()
    (run_dir / "metrics.jsonl").mkdir()  # the tracker cannot open it
    kept = (run_dir / "config.yaml").read_bytes()
    resumed = noether_train(tmp_path, "--resume", run_dir, "trainer.max_epochs=3")
    assert resumed.returncode == 1, resumed.stderr
    assert "metrics.jsonl" in resumed.stderr, resumed.stderr
    assert (run_dir / "config.yaml").read_bytes() == kept
