"""`noether-config validate` over configs of several folders, each with its own schema module
of the same name (`kinds.py` next to the configs of two projects of one repository; a pre-commit
hook hands every changed file to one process): each file is checked as if alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent

KINDS = '''\
from noether.config import DatasetConfig, ModelConfig


class DataConfig(DatasetConfig):
    """Samples of project {name}."""


class NetConfig(ModelConfig):
    """The network of project {name}."""

    kind: str = "{name}_net"
    {field}: int = 1
    """A field only project {name} has."""
'''

EXPERIMENT = """\
name: {name}
datasets: {{train: {{kind: kinds:DataConfig}}}}
model: {{kind: {kind}, {field}: 3, optimizer: {{kind: adam, lr: 1.0e-3}}}}
trainer: {{kind: weighted_loss, max_epochs: 1, effective_batch_size: 2, field_weights: {{y: 1.0}}}}
"""


def validate(*paths: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "noether-config"), "validate", *map(str, paths)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_each_folder_gets_its_own_schema_module_of_a_shared_name(tmp_path: Path) -> None:
    fields = {"a": "width", "b": "depth"}
    for name, field in fields.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "kinds.py").write_text(KINDS.format(name=name, field=field))
        text = EXPERIMENT.format(name=name, kind="kinds:NetConfig", field=field)
        (tmp_path / name / "exp.yaml").write_text(text)
    # b's config naming a's short kind, which only a's module registers: unknown to b alone
    text = EXPERIMENT.format(name="b2", kind="a_net", field="width")
    (tmp_path / "b" / "uses_a.yaml").write_text(text)
    a, b, uses_a = (
        tmp_path / "a" / "exp.yaml",
        tmp_path / "b" / "exp.yaml",
        tmp_path / "b" / "uses_a.yaml",
    )
    again = tmp_path / "a" / "again.yaml"
    again.write_text(a.read_text())
    for order in ((a, b, again), (b, a, again)):  # a's folder comes first again after b's
        done = validate(*order, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "3 file(s) checked: 3 valid, 0 invalid" in done.stdout
    alone = validate(uses_a, cwd=tmp_path)
    together = validate(a, uses_a, cwd=tmp_path)
    assert alone.returncode == together.returncode == 1, together.stdout
    assert "unknown ModelConfig kind 'a_net'" in alone.stdout
    assert together.stdout.splitlines()[1:-1] == alone.stdout.splitlines()[:-1], together.stdout
