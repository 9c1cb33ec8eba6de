"""A second stop signal ends a hung `noether-train` run at once, leaving its files whole.

The run's train step hangs (sleeps forever), so the first signal's request to stop after the
update is never read; a second one, sent after the repeat window, must end the process as the
signal would without a handler, and the run folder must keep everything written until then.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent / "resume_project"))
from resume_testing import CONFIG, complete_checkpoints, run_dirs, start_train

from noether.core.checkpoint import CheckpointWriter
from noether.core.signals import REPEAT_WINDOW_S

HANG_AT = 20  # the 20th train step never returns: 19 updates are done
EXIT_WITHIN_S = 20.0


def _wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("sig", "args"),
    [(signal.SIGTERM, ()), (signal.SIGINT, ("trainer.save_on_sigint=true",))],
    ids=["sigterm", "sigint"],
)
def test_a_second_signal_ends_a_hung_run_at_once(
    tmp_path: Path, sig: signal.Signals, args: tuple[str, ...]
) -> None:
    process = start_train(
        tmp_path,
        CONFIG,
        "trainer.kind=resume_configs:HangingMseTrainerConfig",
        f"trainer.hang_at_step={HANG_AT}",
        *args,
    )
    try:
        _wait_for(tmp_path / "hanging", process)
        process.send_signal(sig)
        time.sleep(REPEAT_WINDOW_S + 0.5)
        assert process.poll() is None, "the first signal alone cannot end a hung update"
        process.send_signal(sig)
        sent = time.monotonic()
        _, stderr = process.communicate(timeout=EXIT_WITHIN_S)
        took = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == -sig, stderr  # the shell reports 128 + sig: 143 / 130
    assert took < EXIT_WITHIN_S
    assert f"received {sig.name}: stopping after this update" in stderr
    assert f"received {sig.name} a second time: exiting now" in stderr

    # everything written before the hang is whole
    (run_dir,) = run_dirs(tmp_path)
    config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    assert config["trainer"]["hang_at_step"] == HANG_AT
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["update"] for row in rows if "loss/online/mse" in row] == list(range(1, HANG_AT))
    assert set(complete_checkpoints(run_dir)) == {"latest"}
    latest = CheckpointWriter.load(run_dir, "latest")
    assert latest["trainer"]["update_counter"]["update"] == HANG_AT - 1
    assert set(latest) == {"model", "optim", "trainer"}


def test_a_repeat_that_arrives_after_the_checkpoint_still_exits_75(tmp_path: Path) -> None:
    """The repeat of the stop (torchrun forwarding the signal) may reach the process after
    training stopped, while it closes its tracker or exits: it must not turn the stop with a
    checkpoint (75, which a requeue script resumes) into a kill by the signal (143)."""
    process = start_train(
        tmp_path,
        CONFIG,
        "trainer.max_epochs=1000",
        "tracker={kind: resume_configs:SlowCloseJsonlTrackerConfig, close_seconds: 0.5}",
    )
    try:
        deadline = time.monotonic() + 180
        while not any((p / "checkpoints" / "latest").is_dir() for p in run_dirs(tmp_path)):
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        first = time.monotonic()
        _wait_for(tmp_path / "closing", process)  # training stopped, the tracker closes
        process.send_signal(signal.SIGTERM)
        repeat_after = time.monotonic() - first
        _, stderr = process.communicate(timeout=EXIT_WITHIN_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert repeat_after < REPEAT_WINDOW_S, "the repeat came too late to test the window"
    assert process.returncode == 75, stderr
    (run_dir,) = run_dirs(tmp_path)
    assert any(tag.startswith("sigterm_") for tag in complete_checkpoints(run_dir))
