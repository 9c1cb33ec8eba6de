"""The guides' code runs as a user copies it.

Every Python block of the README files and guides parses, and the `my_project` of
docs/models-and-datasets.md (its file blocks, each headed `# my_project/<file>.py`), trained
with the experiment file of docs/configs-and-kinds.md, validates and trains through the CLIs
(the models guide's own experiment file validates too).
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
    # the experiment file that the models guide itself shows, for the same project
    (guide_experiment,) = [
        block
        for block in blocks(ROOT / "docs" / "models-and-datasets.md", "yaml")
        if "trainer:" in block
    ]
    (tmp_path / "guide.yaml").write_text(guide_experiment, encoding="utf-8")
    validated = run("noether-config", "validate", "guide.yaml")
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


def test_the_custom_step_of_the_trainer_guide_trains_without_a_loss_compute() -> None:
    import torch
    from torch.utils.data import TensorDataset

    from noether.core.models import ModelBase
    from noether.core.testing import LinearModelConfig, make_config, make_trainer, sgd

    (code,) = [b for b in blocks(ROOT / "docs" / "writing-a-trainer.md", "python") if "Denois" in b]
    namespace: dict[str, object] = {}
    exec(compile(code, "writing-a-trainer.md", "exec"), namespace)

    class Fields(TensorDataset):
        def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
            return {"field": self.tensors[0][index]}

    class Denoiser(ModelBase):
        def __init__(self) -> None:
            super().__init__(LinearModelConfig(optimizer=sgd(0.1), in_dim=4, out_dim=4))
            self.linear = torch.nn.Linear(4, 4)

        def forward(self, field: torch.Tensor) -> torch.Tensor:
            return self.linear(field)

    torch.manual_seed(0)
    config = make_config(max_updates=30, forward_properties=["field"], target_properties=[])
    trainer = make_trainer(
        config, {"train": Fields(torch.randn(64, 4))}, trainer_cls=namespace["DenoisingTrainer"]
    )
    model = Denoiser()
    fields = trainer.data_container.get_dataset("train").tensors[0]

    def error() -> float:
        with torch.no_grad():
            return float(((model(field=fields) - fields) ** 2).mean())

    before = error()
    trainer.train(model)
    assert error() < 0.5 * before


def test_the_callback_of_the_core_readme_runs_from_a_config_and_in_its_testing_example(
    tmp_path: Path,
) -> None:
    """noether-core's README: the callback and its schema (each headed `# in my_project/<file>`)
    run from a trainer config, and the testing example runs as written after them."""
    readme = blocks(ROOT / "packages" / "noether-core" / "README.md", "python")
    (tmp_path / "my_project").mkdir()
    (tmp_path / "my_project" / "__init__.py").write_text("", encoding="utf-8")
    for block in readme:
        where = re.search(r"# in (my_project/callbacks\.py|my_project/configs\.py)", block)
        if where and "Callback" in block:
            (tmp_path / where.group(1)).write_text(block, encoding="utf-8")
    (testing,) = [b for b in readme if "CallbackHarness(" in b]
    script = (
        "from my_project.callbacks import WeightNormCallback\n"
        + testing
        + "config = make_config(max_updates=4, callbacks=[\n"
        "    {'kind': 'my_project.configs:WeightNormCallbackConfig', 'every_n_updates': 2}])\n"
        "trainer = make_trainer(config, tracker=tracker)\n"
        "trainer.train(make_model())\n"
        "assert list(tracker.rows_with('my/weight_norm')) == [2, 4], tracker.rows\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_the_invalid_report_of_the_ci_guide_is_what_validate_prints(tmp_path: Path) -> None:
    """docs/validating-in-ci.md's report, for a file with its three problems at its lines:
    printed as shown, by line, though validation finds the unknown `bogus` last."""
    report = blocks(ROOT / "docs" / "validating-in-ci.md", "text")[0]
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "exp.yaml").write_text(
        "name: exp\n"
        "datasets: {train: {kind: my_kinds:Data}}\n"
        "trainer:\n"
        "  max_epochs: -1\n"
        "  bogus: 1\n"
        "  kind: weighted_loss\n"
        "  callbacks: [{kind: checkpoint, every_n_epoch: 1}]\n"
        "  effective_batch_size: 4\n"
        "  field_weights: {pressure: 1.0}\n"
        "model: {kind: my_kinds:Net, optimizer: {kind: adamw, lr: 1.0e-3}}\n",
        encoding="utf-8",
    )
    (tmp_path / "configs" / "my_kinds.py").write_text(
        "from typing import ClassVar\n"
        "from noether.config import DatasetConfig, ModelConfig\n"
        "class Data(DatasetConfig):\n"
        "    target: ClassVar[str] = 'my_kinds:Dataset'\n"
        "class Net(ModelConfig):\n"
        "    target: ClassVar[str] = 'my_kinds:Model'\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [str(BIN / "noether-config"), "validate", "configs/"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == report
