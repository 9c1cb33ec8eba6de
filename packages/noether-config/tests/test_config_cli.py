"""The noether-config CLI: validate (paths, formats, exit codes), schema and kinds."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from noether.config.cli import app
from noether.config.entry_points import clear_cache

Project = Callable[..., Path]
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


@pytest.fixture
def configs(project: Project, valid_yaml: str) -> Path:
    """good.yaml, bad.yaml and fragments that must be skipped in folder mode."""
    return project(
        **{
            "good.yaml": valid_yaml,
            "nested/also_good.yml": "extends: ../_base.yaml\nname: nested\n",
            "_base.yaml": valid_yaml,
            "_partials/trainer.yaml": "max_epochs: 3\n",
            ".hidden/x.yaml": "not: an experiment\n",
            "bad.yaml": valid_yaml.replace("max_epochs: 2", "max_epochs: two"),
        }
    )


def test_valid_file_exits_0(configs: Path) -> None:
    code, output = invoke("validate", str(configs / "good.yaml"))
    assert code == 0
    assert f"ok: {configs / 'good.yaml'}" in output
    assert "1 file(s) checked: 1 valid, 0 invalid" in output


def test_invalid_file_exits_1_with_file_line_key(configs: Path) -> None:
    code, output = invoke("validate", str(configs / "good.yaml"), str(configs / "bad.yaml"))
    assert code == 1
    assert f"{configs / 'bad.yaml'}:14: trainer.max_epochs: Input should be a valid integer" in (
        output
    )
    assert "2 file(s) checked: 1 valid, 1 invalid" in output


def test_every_broken_rule_across_sections_is_reported_at_its_own_line(
    project: Project, valid_yaml: str
) -> None:
    """Rules that relate sections (a dataset a callback names, an ema factor, a metric) are
    all reported in one pass, each at its key; a missing `datasets.train` at its parent."""
    callbacks = """\
  callbacks:
    - {kind: offline_loss, dataset_key: val, every_n_epochs: 1}
    - {kind: offline_loss, dataset_key: test, every_n_epochs: 1, ema_factor: 0.9}
    - {kind: best_metric, metric_key: loss/vall/total, every_n_epochs: 1}
"""
    broken = valid_yaml.replace("tracker:", callbacks + "tracker:").replace(
        '  train: {kind: "{module}:PointsDatasetConfig", num_samples: 16}',
        '  test: {kind: "{module}:PointsDatasetConfig", num_samples: 16}',
    )
    folder = project(**{"exp.yaml": broken})
    code, output = invoke("validate", str(folder / "exp.yaml"))
    assert code == 1
    issues = [line.split(": ", 2)[:2] for line in output.splitlines() if "exp.yaml:" in line]
    assert [(place.rsplit(":", 1)[1], key) for place, key in issues] == [
        ("3", "datasets.train"),
        ("20", "trainer.callbacks.0.dataset_key"),
        ("21", "trainer.callbacks.1.ema_factor"),
        ("22", "trainer.callbacks.2.metric_key"),
    ], output
    assert "required to train (max_* > 0)" in output
    assert "no dataset 'val' (datasets: test)" in output
    assert "did you mean 'loss/val/total'?" in output


def test_folder_skips_fragments_and_explicit_fragment_is_validated(configs: Path) -> None:
    code, output = invoke("validate", str(configs))
    assert code == 1  # bad.yaml
    assert "ok: " + str(configs / "good.yaml") in output
    assert "ok: " + str(configs / "nested" / "also_good.yml") in output
    assert "_partials" not in output and ".hidden" not in output and "_base" not in output
    assert "3 file(s) checked: 2 valid, 1 invalid, 3 fragment(s) skipped" in output
    code, output = invoke("validate", str(configs / "_partials" / "trainer.yaml"))
    assert code == 1
    assert "name: missing required key" in output


OPTIMIZER = """\
  optimizer:
    kind: adamw
    lr: 1.0e-3
    schedule: {kind: linear_warmup_cosine_decay, warmup_percent: 0.1}
"""


def test_a_file_in_a_folder_that_an_experiment_includes_is_checked_through_it(
    project: Project, valid_yaml: str
) -> None:
    """`validate configs/` (the CI step) agrees with the pre-commit hook: `optim.yaml`, which
    an experiment includes, is no experiment to validate alone; a stray file still is."""
    assert OPTIMIZER in valid_yaml
    included = valid_yaml.replace(OPTIMIZER, "  optimizer: !include optim.yaml\n")
    optimizer = "\n".join(line[4:] for line in OPTIMIZER.splitlines()[1:]) + "\n"
    folder = project(**{"exp.yaml": included, "optim.yaml": optimizer})
    code, output = invoke("validate", str(folder))
    assert code == 0, output
    assert "1 file(s) checked: 1 valid, 0 invalid, 1 fragment(s) checked through" in output
    (folder / "optim.yaml").write_text(optimizer.replace("lr: 1.0e-3", "lr: fast"))
    code, output = invoke("validate", str(folder))
    assert code == 1
    assert f"{folder / 'optim.yaml'}:2: model.optimizer.lr: Input should be a valid number" in (
        output
    )
    (folder / "optim.yaml").write_text(optimizer)
    (folder / "stray.yaml").write_text("lr: 1.0e-3\n")  # no experiment, and none uses it
    code, output = invoke("validate", str(folder))
    assert code == 1
    assert f"{folder / 'stray.yaml'}:1: name: missing required key" in output


def test_glob_expands_and_applies_the_fragment_rule(configs: Path) -> None:
    code, output = invoke("validate", str(configs / "**" / "*.y*ml"))
    assert code == 1  # glob never matches dot-folders, so .hidden is not even listed
    assert "3 file(s) checked: 2 valid, 1 invalid, 2 fragment(s) skipped" in output
    code, output = invoke("validate", str(configs / "good*.yaml"))
    assert code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give at least one file"),
        (("does/not/exist.yaml",), "no such file or folder: 'does/not/exist.yaml'"),
        (("nothing_matches_*.yaml",), "no YAML file matches"),
        (("--format", "xml", "x.yaml"), "'xml' is not one of"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    code, output = invoke("validate", *args)
    assert code == 2
    assert message in output


def test_folder_without_experiments_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "_only_fragment.yaml").write_text("a: 1\n")
    code, output = invoke("validate", str(tmp_path))
    assert code == 2
    assert "no experiment files found" in output


def test_folder_without_yaml_among_other_paths_is_a_usage_error(
    configs: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "emptied"
    empty.mkdir()
    (empty / "notes.txt").write_text("no experiments here\n")
    code, output = invoke("validate", str(configs / "good.yaml"), str(empty))
    assert code == 2
    assert f"no YAML file in folder {str(empty)!r}" in output


def test_overrides_apply_to_every_file(configs: Path) -> None:
    good = str(configs / "good.yaml")
    code, _ = invoke("validate", good, "-o", "trainer.max_epochs=5", "--override", "seed=1")
    assert code == 0
    code, output = invoke("validate", good, "-o", "trainer.max_epochs=-1")
    assert code == 1
    assert "set by override 'trainer.max_epochs=-1'" in output


def test_includes_stay_inside_the_named_folder_or_the_root_option(tmp_path: Path) -> None:
    (tmp_path / "exps" / "deeper").mkdir(parents=True)
    (tmp_path / "_base.yaml").write_text("seed: 3\n")
    a = tmp_path / "exps" / "a.yaml"
    a.write_text("extends: ../_base.yaml\nname: a\n")
    b = tmp_path / "exps" / "deeper" / "b.yaml"
    b.write_text("extends: ../../_base.yaml\nname: b\n")
    outside = "is outside the config root"
    code, output = invoke("validate", str(a))
    assert code == 1
    assert f"{a}:1: extends: extends '../_base.yaml' {outside} {tmp_path / 'exps'}" in output
    code, output = invoke("validate", str(tmp_path / "exps"))  # the folder named is the root
    assert output.count(outside) == 2
    code, output = invoke("validate", str(tmp_path / "exps" / "**" / "*.yaml"))
    assert output.count(outside) == 2
    code, output = invoke("validate", str(tmp_path))  # _base.yaml is inside now
    assert outside not in output and "model: missing required key" in output
    code, output = invoke("validate", "--root", str(tmp_path), str(b))
    assert outside not in output and "model: missing required key" in output
    code, output = invoke("validate", "--root", str(tmp_path / "nope"), str(a))
    assert code == 2 and "is not a folder" in output


def test_max_nodes_option_sets_the_node_limit(configs: Path) -> None:
    good = str(configs / "good.yaml")
    code, output = invoke("validate", "--max-nodes", "20", good)
    assert code == 1
    assert "the config expands to more than 20 nodes (limit max_nodes)" in output
    code, output = invoke("validate", "--max-nodes", "0", good)
    assert code == 2


def test_json_format(configs: Path) -> None:
    code, output = invoke(
        "validate", "--format", "json", str(configs / "good.yaml"), str(configs / "bad.yaml")
    )
    assert code == 1
    report = json.loads(output)
    assert report["valid"] is False
    good, bad = report["files"]
    assert good["valid"] and not good["issues"]
    (issue,) = bad["issues"]
    assert issue["line"] == 14 and issue["key"] == "trainer.max_epochs"
    assert issue["file"] == str(configs / "bad.yaml")


def test_github_format(configs: Path) -> None:
    code, output = invoke("validate", "--format", "github", str(configs / "bad.yaml"))
    assert code == 1
    line = output.splitlines()[0]
    assert line.startswith(f"::error file={configs / 'bad.yaml'},line=14,title=")
    assert line.endswith(
        "::trainer.max_epochs: Input should be a valid integer, unable to parse string as an "
        "integer (got 'two')"
    )


def test_unexpected_exceptions_become_messages(configs: Path, project: Project) -> None:
    folder = project(
        **{
            "weird.yaml": "name: w\nmodel: {kind: weird_schema_mod:Cfg}\ntrainer: {kind: x}\n",
            "weird_schema_mod.py": "import sys\nsys.exit(3)\n",
        }
    )
    code, output = invoke("validate", str(folder / "weird.yaml"))
    assert code == 1
    assert "Traceback" not in output
    assert f"{folder / 'weird.yaml'}:1: <root>: unexpected error" in output


def test_schema_command_prints_kinds_and_roots(tmp_path: Path) -> None:
    code, output = invoke("schema")
    assert code == 0
    schema = json.loads(output)
    assert schema["$schema"].startswith("https://json-schema.org/")
    definitions = schema["$defs"]
    # a file with `extends` is an overlay on its bases; one without is checked in full
    assert schema["if"] == {"required": ["extends"]}
    strict = definitions[schema["else"]["$ref"].split("/")[-1]]
    overlay = definitions[schema["then"]["$ref"].split("/")[-1]]
    assert {"extends", "vars"} <= set(strict["properties"]) & set(overlay["properties"])
    assert "trainer" in strict["required"] and "required" not in overlay
    assert definitions["WeightedLossTrainerConfig"]["properties"]["kind"]["const"] == (
        "weighted_loss"
    )
    code, output = invoke("schema", "trackers")
    assert code == 0
    trackers = json.loads(output)
    assert trackers["title"] == "TrackerConfig"
    kinds = trackers["$defs"][trackers["$ref"].split("/")[-1]]
    assert set(kinds["properties"]["kind"]["anyOf"][0]["enum"]) == {
        "jsonl",
        "tensorboard",
        "wandb",
        "mlflow",
        "noop",
    }
    validator = jsonschema.Draft202012Validator(trackers)
    assert validator.is_valid({"kind": "tensorboard", "subdir": "tb"})
    assert not validator.is_valid({"kind": "jsonll"})
    code, output = invoke("schema", "CallbackConfig", "-O", str(tmp_path / "cb.json"))
    assert code == 0 and json.loads((tmp_path / "cb.json").read_text())["title"] == "CallbackConfig"
    code, output = invoke("schema", "widgets")
    assert code == 2 and "unknown root 'widgets'" in output
    assert "choose one of: experiment, trainers," in output and "losses" not in output


def test_kinds_of_an_unknown_group_offers_only_the_groups_it_takes() -> None:
    code, output = invoke("kinds", "experiment")
    assert code == 2 and "unknown root 'experiment'" in output
    choices = output.split("choose one of:")[1]
    assert "experiment" not in choices and "trainers" in choices and "losses" in choices


def test_kinds_lists_distribution_and_install_state() -> None:
    code, output = invoke("kinds", "trackers", "--json")
    assert code == 0
    rows = {row["kind"]: row for row in json.loads(output)}
    assert set(rows) >= {"jsonl", "mlflow", "noop", "tensorboard", "wandb"}
    jsonl = rows["jsonl"]
    assert jsonl["distribution"] == "noether-config"
    assert jsonl["target"] == "noether.core.trackers.jsonl:JsonlTracker"
    assert jsonl["provided_by"] == "noether-core"
    assert isinstance(jsonl["installed"], bool)
    code, output = invoke("kinds")
    assert code == 0
    assert "noether.trainers:" in output and "weighted_loss" in output
    assert "noether.losses:" in output
    code, output = invoke("kinds", "gadgets")
    assert code == 2


def test_kinds_lists_a_kind_published_in_a_group_noether_does_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """configs-and-kinds.md says `kinds` shows such a plug-in with the reason; it left it out."""
    info = tmp_path / "acme_typo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-typo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[noether.model]\nrod = acme_typo:RodConfig\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    clear_cache()
    try:
        code, output = invoke("kinds")
        (row,) = [line for line in output.splitlines() if line.split()[:1] == ["rod"]]
        assert "acme-typo" in row
        assert row.endswith(
            "[error: noether reads no kinds from the group 'noether.model' (did you mean "
            "'noether.models'?)]"
        ), row
        assert code == 1 and "noether.model:" in output
        assert "1 kind(s) cannot be used, see `noether-config kinds`: rod (noether.model)" in output
    finally:
        monkeypatch.undo()
        clear_cache()


def test_kinds_does_not_import_implementations() -> None:
    code = (
        "import sys\n"
        "from noether.config.cli import app\n"
        "try:\n    app(['kinds'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('torch', 'noether.core', "
        "'noether.training', 'noether.callbacks'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "noether.config.cli", *args]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env)


def test_real_process_exit_codes(configs: Path) -> None:
    assert cli("validate", "good.yaml", cwd=configs).returncode == 0
    done = cli("validate", "bad.yaml", cwd=configs)
    assert done.returncode == 1
    assert "bad.yaml:14: trainer.max_epochs: " in done.stdout
    done = cli("validate", "missing.yaml", cwd=configs)
    assert done.returncode == 2
    assert "no such file or folder: 'missing.yaml'" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_a_kind_where_none_is_registered_says_where_kinds_come_from(
    project: Project, valid_yaml: str
) -> None:
    # datasets are the project's own: CI validating without the project installed lists none
    datasets = "  train: {kind: acme_waves}\n  val: acme_waves\n  test: {num_samples: 3}\n"
    original = '  train: {kind: "{module}:PointsDatasetConfig", num_samples: 16}\n'
    folder = project(**{"ci.yaml": valid_yaml.replace(original, datasets)})
    done = cli("validate", "ci.yaml", cwd=folder)
    assert done.returncode == 1, done.stdout + done.stderr
    where = (
        "known kinds: none registered (kinds come from installed packages, in the entry-point "
        "group 'noether.datasets'; or write the schema's path, kind: module:Class)"
    )
    lines = done.stdout.splitlines()
    assert (
        f"ci.yaml:4: datasets.train.kind: unknown DatasetConfig kind 'acme_waves'; {where}" in lines
    )
    assert any(
        line.startswith("ci.yaml:5: datasets.val: ") and line.endswith(f"{{kind: ...}}; {where})")
        for line in lines
    ), done.stdout
    assert f"ci.yaml:6: datasets.test.kind: missing `kind` for DatasetConfig; {where}" in lines
    assert "Traceback" not in done.stdout + done.stderr


def test_real_process_help_lists_commands() -> None:
    done = cli("--help")
    assert done.returncode == 0
    for command in ("validate", "schema", "kinds"):
        assert command in done.stdout


@pytest.mark.parametrize("command", [(), ("validate",), ("schema",), ("kinds",)])
def test_dash_h_is_help_as_in_noether_train(command: tuple[str, ...]) -> None:
    done = script(*command, "-h")
    assert done.returncode == 0, done.stderr
    assert done.stdout == script(*command, "--help").stdout
    assert done.stdout.startswith(" ".join(("Usage: noether-config", *command)))


NOETHER_CONFIG = Path(sys.executable).parent / "noether-config"


def script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a shell runs it."""
    return subprocess.run(
        [str(NOETHER_CONFIG), *args], capture_output=True, text=True, env={**os.environ, **env}
    )


def test_version_names_the_distribution() -> None:
    done = script("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"noether-config {importlib.metadata.version('noether-config')}\n"


def test_show_completion_prints_a_bash_script() -> None:
    """Run from bash, as a user does: the option takes no value; typer detects the shell
    among the process's parents (bash stays one: a second command keeps it from exec'ing)."""
    done = subprocess.run(
        ["/bin/bash", "-c", f"'{NOETHER_CONFIG}' --show-completion; exit $?"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "_NOETHER_CONFIG_COMPLETE=complete_bash" in done.stdout
    assert "complete -o default -F _noether_config_completion noether-config" in done.stdout


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("noether-config va", "validate"),
        ("noether-config validate --ro", "--root"),
        ("noether-config validate --format ", "github"),
        ("noether-config --ver", "--version"),
    ],
)
def test_completion_offers_commands_options_and_values(words: str, expected: str) -> None:
    done = script(
        _NOETHER_CONFIG_COMPLETE="complete_bash",
        COMP_WORDS=words,
        COMP_CWORD=str(words.count(" ")),
    )
    assert done.returncode == 0, done.stderr
    assert expected in done.stdout.split()


def test_positional_overrides_are_option_overrides(configs: Path) -> None:
    good = str(configs / "good.yaml")
    positional = invoke("validate", good, "trainer.max_epochs=-1", "seed=x")
    option = invoke("validate", good, "-o", "trainer.max_epochs=-1", "--override=seed=x")
    assert positional == option
    assert positional[0] == 1
    assert "trainer.max_epochs" in positional[1] and "seed" in positional[1]


@pytest.mark.parametrize(
    ("tracker", "message"),
    [
        ("{kind: jsonl, filename: ../../metrics.jsonl}", "tracker.filename: a name, not a path"),
        ("{kind: jsonl, filename: /tmp/x.jsonl}", "tracker.filename: a name, not a path"),
        ("{kind: tensorboard, subdir: ../shared}", "tracker.subdir: a name, not a path"),
        (
            "{kind: jsonl, filename: config.yaml}",
            "tracker.filename: 'config.yaml' is a file noether keeps in the run folder",
        ),
    ],
)
def test_a_trackers_file_outside_its_run_folder_or_over_its_files_is_invalid(
    configs: Path, tracker: str, message: str
) -> None:
    """Rows appended to one file shared by all runs, or into the run's own config.yaml (whose
    resume then failed), were accepted."""
    code, output = invoke("validate", str(configs / "good.yaml"), f"tracker={tracker}")
    assert code == 1, output
    assert message in output, output


def test_two_callbacks_writing_latest_with_other_files_is_invalid(configs: Path) -> None:
    """The weights-only one, written last, replaced the resumable `latest`, and the resume
    was refused as weights-only."""
    resumable = (
        "{kind: checkpoint, every_n_epochs: 1, save_latest_optim: true, save_weights: false}"
    )
    weights = (
        "{kind: checkpoint, every_n_updates: 3, save_latest_weights: true, save_weights: false}"
    )
    code, output = invoke(
        "validate", str(configs / "good.yaml"), f"trainer.callbacks=[{resumable}, {weights}]"
    )
    assert code == 1, output
    assert "trainer.callbacks.1: writes the rolling `latest` checkpoint as trainer.callbacks.0" in (
        output
    )
    code, output = invoke(
        "validate", str(configs / "good.yaml"), f"trainer.callbacks=[{resumable}, {resumable}]"
    )
    assert code == 0, output  # the same files: they agree
