"""`noether-train` with a weighted field that the data does not hold: a message naming the
file, line and key of the field (as validation errors do), exit 1 and no traceback."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart"
NOETHER_TRAIN = Path(sys.executable).parent / "noether-train"


def test_a_weighted_field_without_a_target_names_its_line_in_the_config(tmp_path: Path) -> None:
    project = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, project, ignore=shutil.ignore_patterns("runs", "__pycache__"))
    config = project / "config.yaml"
    lines = config.read_text().splitlines()
    (line,) = [i for i, text in enumerate(lines, 1) if "field_weights:" in text]
    lines[line - 1] = "  field_weights: {pressure: 1.0, velocity: 0.5}"
    config.write_text("\n".join(lines) + "\n")

    result = subprocess.run(
        [str(NOETHER_TRAIN), str(config), "trainer.max_epochs=1", "datasets.train.num_samples=64"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 1, result.stderr
    expected = (
        f"{config}:{line}: trainer.field_weights.velocity: item 0 of dataset 'train' "
        "(SphereFlowDataset) has no velocity_target; its keys: points, flow_direction, "
        "pressure_target"
    )
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    readme = (ROOT / "packages" / "noether-trainers" / "README.md").read_text(encoding="utf-8")
    (example,) = re.findall(
        r"`config\.yaml:37: (trainer\.field_weights\.velocity: [^`]*) \.\.\.`", readme
    )
    assert example in result.stderr, example  # the README's example is what the run prints


def test_field_names_and_targets_the_run_refuses_are_refused_by_validate_and_dry_run(
    tmp_path: Path,
) -> None:
    """packages/noether-trainers/README.md: a field may not be called `total` or
    `<other field>_unweighted`, and given target_properties hold each `<field>_target`.
    `validate` and `--dry-run` refuse such a config as the run does, at its line, and no run
    folder is made."""
    project = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, project, ignore=shutil.ignore_patterns("runs", "__pycache__"))
    config = project / "config.yaml"
    (line,) = [i for i, t in enumerate(config.read_text().splitlines(), 1) if "field_weights:" in t]
    bin_dir = NOETHER_TRAIN.parent
    (trainer_line,) = [
        i for i, t in enumerate(config.read_text().splitlines(), 1) if t == "trainer:"
    ]
    for overrides, where, message in [
        (["trainer.field_weights={total: 1.0}"], line, "may not name a field 'total'"),
        (
            ["trainer.field_weights={pressure: 1.0, pressure_unweighted: 1.0}"],
            line,
            "names both 'pressure' and",
        ),
        (
            ["trainer.forward_properties=[points]", "trainer.target_properties=[flow_direction]"],
            trainer_line,
            "lacks pressure_target",
        ),
    ]:
        for command in (
            [str(bin_dir / "noether-config"), "validate", str(config), *overrides],
            [str(NOETHER_TRAIN), "--dry-run", str(config), *overrides],
            [str(NOETHER_TRAIN), str(config), *overrides],
        ):
            result = subprocess.run(
                command, cwd=tmp_path, capture_output=True, text=True, timeout=120
            )
            output = result.stdout + result.stderr
            assert result.returncode == 1, output
            assert f"{config}:{where}: trainer" in output, output
            assert message in output, output
            assert not (project / "runs").exists(), command
