"""A run's text files (config.yaml, run.json, summary.json) are replaced whole or not at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from noether.core.text_files import replace_text


def test_replace_text_writes_the_new_text(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text("old\n")
    replace_text(path, "new\n")
    assert path.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.json"
    path.write_text("old\n")
    with pytest.raises(UnicodeEncodeError):
        replace_text(path, "x" * 100_000 + "\ud800")  # the encoder fails after writing a part
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


REWRITE = """
import sys
from pathlib import Path
from noether.core.text_files import replace_text
for _ in range(200):
    replace_text(Path(sys.argv[1]), sys.argv[2] * 200_000)
"""


def test_a_reader_sees_one_whole_version_while_two_processes_rewrite_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.yaml"
    replace_text(path, "a" * 200_000)
    writers = [
        subprocess.Popen([sys.executable, "-c", REWRITE, str(path), letter]) for letter in "bc"
    ]
    seen = set()
    while any(writer.poll() is None for writer in writers):
        text = path.read_text()
        assert len(text) == 200_000 and len(set(text)) == 1, (len(text), set(text))
        seen.add(text[0])
    assert [writer.wait() for writer in writers] == [0, 0]
    assert seen <= {"a", "b", "c"} and path.read_text()[0] in "bc"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]
