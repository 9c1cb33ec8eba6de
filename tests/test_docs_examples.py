"""The guides' code runs as a user copies it.

Every Python block of the README files and guides parses, and the `my_project` of
docs/models-and-datasets.md (its file blocks, each headed `# my_project/<file>.py`), trained
with the experiment file of docs/configs-and-kinds.md, validates and trains through the CLIs.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PAGES = sorted(
    [
        ROOT / "README.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "packages").glob("*/README.md"),
        *(ROOT / "examples").glob("*/README.md"),
    ]
)
FILE_HEADER = re.compile(r"# (my_project/\w+\.py)\b")


def blocks(page: Path, language: str) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_python_block_parses(page: Path) -> None:
    for block in blocks(page, "python"):
        ast.parse(block)


def test_the_my_project_of_the_guides_validates_and_trains(tmp_path: Path) -> None:
    files: dict[str, str] = {}
    for block in blocks(ROOT / "docs" / "models-and-datasets.md", "python"):
        header = FILE_HEADER.match(block)
        if header:
            files[header.group(1)] = files.get(header.group(1), "") + block + "\n"
    assert sorted(files) == [
        "my_project/configs.py",
        "my_project/dataset.py",
        "my_project/model.py",
    ]
    (tmp_path / "my_project").mkdir()
    (tmp_path / "my_project" / "__init__.py").write_text("", encoding="utf-8")
    for name, code in files.items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    experiment = blocks(ROOT / "docs" / "configs-and-kinds.md", "yaml")[0]
    (tmp_path / "exp.yaml").write_text(experiment, encoding="utf-8")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / command[0]), *command[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    validated = run("noether-config", "validate", "exp.yaml")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    trained = run(
        "noether-train",
        "exp.yaml",
        "device=cpu",
        "trainer.max_epochs=1",
        "datasets.train.num_samples=128",
        "datasets.val.num_samples=32",
    )
    assert trained.returncode == 0, trained.stderr
    assert "final loss/val/temperature = " in trained.stdout
