"""report: where the traceback of a failure is said to be."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from noether.core.run_logging import report


def test_a_log_file_deleted_with_its_run_folder_is_said_to_be_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log_path = tmp_path / "run" / "train.log"
    with caplog.at_level(logging.ERROR):
        report(RuntimeError("disk gone"), log_path, headline="training failed after update 3")
    assert f"the traceback is lost: {log_path} is gone" in caplog.text
    assert "the traceback is in" not in caplog.text
