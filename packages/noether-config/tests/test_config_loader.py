"""load_config: extends, !include, ${...} references, overrides, lines and all errors at once."""

from __future__ import annotations

import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

from noether.config import ConfigError, ExperimentConfig, load_config
from noether.config.loader import load_raw
from noether.config.loader.limits import Budget, LoaderLimits
from noether.config.loader.yaml_io import parse_yaml

Project = Callable[..., Path]


def issues_of(path: Path, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    return [str(issue) for issue in caught.value.issues]


def test_valid_file_builds_typed_config(project: Project, valid_yaml: str) -> None:
    folder = project(**{"exp.yaml": valid_yaml})
    config = load_config(folder / "exp.yaml")
    assert isinstance(config, ExperimentConfig)
    assert config.model.width == 8  # type: ignore[attr-defined]
    assert config.model.optimizer is not None
    assert config.model.optimizer.schedule.warmup_percent == 0.1  # type: ignore[union-attr]
    assert config.trainer.max_epochs == 2
    assert config.datasets["train"].num_samples == 16  # type: ignore[attr-defined]


def test_config_folder_is_put_on_sys_path_after_the_standard_library(
    project: Project, valid_yaml: str
) -> None:
    folder = project(**{"exp.yaml": valid_yaml})
    assert str(folder) not in sys.path
    load_config(folder / "exp.yaml")
    place = sys.path.index(str(folder))
    stdlib = sysconfig.get_paths()["stdlib"]
    assert sys.path.index(stdlib) < place
    assert all("site-packages" not in entry for entry in sys.path[:place])


def test_extends_merges_deeply_and_this_file_wins(project: Project, valid_yaml: str) -> None:
    folder = project(
        **{
            "_base.yaml": valid_yaml,
            "exp.yaml": """\
                extends: _base.yaml
                name: child
                trainer:
                  max_epochs: 7
                """,
        }
    )
    config = load_config(folder / "exp.yaml")
    assert config.name == "child"
    assert config.trainer.max_epochs == 7
    assert config.trainer.effective_batch_size == 4  # kept from the base
    assert config.seed == 3


def test_extends_list_applies_bases_in_order(project: Project, valid_yaml: str) -> None:
    folder = project(
        **{
            "base/_all.yaml": valid_yaml,
            "base/_seed.yaml": "seed: 11\nname: from-seed\n",
            "exp.yaml": "extends: [base/_all.yaml, base/_seed.yaml]\nname: mine\n",
        }
    )
    config = load_config(folder / "exp.yaml")
    assert (config.seed, config.name) == (11, "mine")


def test_an_overlay_that_changes_a_kind_keeps_only_the_keys_the_new_kind_has(
    project: Project, valid_yaml: str
) -> None:
    base = valid_yaml.replace("tracker: {kind: jsonl}", "tracker: {kind: wandb, project: p}")
    folder = project(
        **{
            "_base.yaml": base.replace("lr: 1.0e-3", "lr: 1.0e-3\n    betas: [0.8, 0.9]"),
            "exp.yaml": """\
                extends: _base.yaml
                model:
                  optimizer:
                    kind: sgd
                    schedule: {kind: constant}
                tracker: {kind: jsonl}
                """,
        }
    )
    config = load_config(folder / "exp.yaml")
    optimizer = config.model.optimizer
    assert optimizer is not None and optimizer.kind == "sgd"
    assert optimizer.lr == 1.0e-3  # sgd has an lr: the base's is kept; adamw's betas are not
    assert optimizer.schedule is not None and optimizer.schedule.kind == "constant"
    assert config.tracker.kind == "jsonl"
    (folder / "bad.yaml").write_text(
        "extends: _base.yaml\nmodel:\n  optimizer: {kind: sgd, betas: [0.1, 0.2]}\n"
    )
    (issue,) = issues_of(folder / "bad.yaml")  # written for sgd itself: still refused
    assert (
        issue == f"{folder / 'bad.yaml'}:3: model.optimizer.betas: unknown key (not allowed here)"
    )


def test_null_over_a_section_removes_it_in_an_overlay_and_an_override(
    project: Project, valid_yaml: str
) -> None:
    with_val = valid_yaml.replace(
        "datasets:\n", 'datasets:\n  val: {kind: "{module}:PointsDatasetConfig"}\n'
    )
    folder = project(
        **{
            "_base.yaml": with_val,
            "exp.yaml": "extends: _base.yaml\ndatasets: {val: null}\ntracker: null\n",
        }
    )
    assert set(load_config(folder / "_base.yaml").datasets) == {"train", "val"}
    config = load_config(folder / "exp.yaml")
    assert set(config.datasets) == {"train"}
    assert config.tracker.kind == "jsonl"  # the default
    config = load_config(folder / "_base.yaml", ["datasets.val=null"])
    assert set(config.datasets) == {"train"}


def test_include_is_relative_to_the_including_file(project: Project, valid_yaml: str) -> None:
    folder = project(
        **{
            "_base.yaml": valid_yaml,
            "parts/_trainer.yaml": "max_epochs: 9\nlog_every_n_epochs: !include _every.yaml\n",
            "parts/_every.yaml": "3\n",
            "exp.yaml": "extends: _base.yaml\ntrainer: !include parts/_trainer.yaml\n",
        }
    )
    config = load_config(folder / "exp.yaml")
    assert config.trainer.max_epochs == 9
    assert config.trainer.log_every_n_epochs == 3
    assert config.trainer.field_weights == {"pressure": 1.0}  # type: ignore[attr-defined]


def test_include_cycle_names_the_chain_file_and_line(project: Project) -> None:
    folder = project(
        **{
            "a.yaml": "name: a\nmodel: !include b.yaml\n",
            "b.yaml": "kind: x\nsub: !include a.yaml\n",
        }
    )
    issues = issues_of(folder / "a.yaml")
    b = str(folder / "b.yaml")
    assert f"{b}:2: model.sub: cycle of extends / !include: a.yaml -> b.yaml -> a.yaml" in issues


def test_a_bad_extends_is_reported_at_its_key_without_the_missing_keys_of_its_bases(
    project: Project,
) -> None:
    folder = project(**{"exp.yaml": "name: a\nextends: 5\n"})
    assert issues_of(folder / "exp.yaml") == [
        f"{folder / 'exp.yaml'}:2: extends: extends takes a file path or a list of paths"
    ]


def test_extends_cycle_is_named_as_such(project: Project) -> None:
    folder = project(**{"a.yaml": "extends: b.yaml\nname: a\n", "b.yaml": "extends: a.yaml\n"})
    issues = issues_of(folder / "a.yaml")
    b = str(folder / "b.yaml")
    assert any(
        issue.startswith(f"{b}:1:")
        and "cycle of extends / !include: a.yaml -> b.yaml -> a.yaml" in issue
        for issue in issues
    ), issues


def test_missing_include_and_missing_base_are_reported_at_their_line(project: Project) -> None:
    folder = project(**{"exp.yaml": "name: a\n\ntrainer: !include nope.yaml\n"})
    missing_model, issue = issues_of(folder / "exp.yaml")  # by line: model at its parent, line 1
    assert missing_model == f"{folder / 'exp.yaml'}:1: model: missing required key"
    assert issue.startswith(f"{folder / 'exp.yaml'}:3: trainer: cannot read file")
    assert "nope.yaml" in issue and "No such file" in issue
    folder = project(**{"child.yaml": "# comment\nextends: gone.yaml\nname: x\n"})
    (issue,) = issues_of(folder / "child.yaml")
    assert issue.startswith(f"{folder / 'child.yaml'}:2: extends: cannot read file")


def test_a_missing_include_is_not_also_reported_as_the_rule_it_seems_to_break(
    project: Project, valid_yaml: str
) -> None:
    text = valid_yaml.replace("max_epochs: 2", "max_epochs: !include _gone.yaml")
    folder = project(**{"exp.yaml": text})
    (issue,) = issues_of(folder / "exp.yaml")  # not also "set exactly one of max_epochs, ..."
    assert issue.startswith(f"{folder / 'exp.yaml'}:14: trainer.max_epochs: cannot read file")


def test_whole_reference_keeps_type_and_text_reference_is_inserted(
    project: Project, valid_yaml: str
) -> None:
    folder = project(
        **{
            "_base.yaml": valid_yaml,
            "exp.yaml": """\
                extends: _base.yaml
                vars: {epochs: 5, tag: run}
                name: ${vars.tag}-${seed}-$${literal}
                trainer:
                  max_epochs: ${vars.epochs}
                  effective_batch_size: ${trainer.max_epochs}
                  target_properties: ${trainer.forward_properties}
                  forward_properties: [a, b]
                """,
        }
    )
    raw = load_raw(folder / "exp.yaml")
    assert raw.data["name"] == "run-3-${literal}"
    assert raw.data["trainer"]["effective_batch_size"] == 5
    assert raw.data["trainer"]["target_properties"] == ["a", "b"]
    assert "vars" not in raw.data


def test_a_bad_value_given_by_reference_names_where_it_is_written(
    project: Project, valid_yaml: str
) -> None:
    text = valid_yaml.replace("max_epochs: 2", "max_epochs: ${vars.epochs}")
    folder = project(
        **{"_base.yaml": text, "exp.yaml": "extends: _base.yaml\nvars: {epochs: three}\n"}
    )
    (issue,) = issues_of(folder / "exp.yaml")
    assert issue.startswith(f"{folder / '_base.yaml'}:14: trainer.max_epochs: Input should be")
    assert issue.endswith(f"(got 'three') (from ${{vars.epochs}} at {folder / 'exp.yaml'}:2)")


def test_unknown_reference_and_cycle_are_errors_at_their_key(project: Project) -> None:
    folder = project(
        **{
            "exp.yaml": """\
                name: x
                vars:
                  a: ${vars.b}
                  b: ${vars.a}
                seed: ${nothing.here}
                output_path: "runs/${model}"
                num_threads: ${vars.list.2}
                """
        }
    )
    text = (folder / "exp.yaml").read_text().replace("  a:", "  list: [1, 2]\n  a:")
    (folder / "exp.yaml").write_text(text)
    issues = issues_of(folder / "exp.yaml")
    path = folder / "exp.yaml"
    assert f"{path}:4: vars.a: reference cycle: vars.a -> vars.b -> vars.a" in issues
    assert f"{path}:6: seed: unknown reference ${{nothing.here}}: no top-level key 'nothing'" in (
        issues
    )
    assert (
        f"{path}:8: num_threads: unknown reference ${{vars.list.2}}: index 2 is out of range "
        "(vars.list has 2 items)"
    ) in issues
    assert any(i.startswith(f"{path}:7: output_path: ") and "is a mapping" not in i for i in issues)


def test_an_unclosed_reference_is_an_error_at_its_key(project: Project) -> None:
    """`"runs/${vars.b"` reached the run as written; `$${` stays the literal `${`."""
    folder = project(
        **{
            "exp.yaml": """\
                name: x
                vars:
                  b: 1
                  note: "cost $${5} and ${vars.b}"
                output_path: "runs/${vars.b"
                seed: "${vars.${vars.b}}"
                """
        }
    )
    issues = issues_of(folder / "exp.yaml")
    path = folder / "exp.yaml"
    closing = "close it with '}' (write $${ for a literal ${)"
    assert f"{path}:5: output_path: unclosed reference ${{vars.b: {closing}" in issues
    assert f"{path}:6: seed: unclosed reference ${{vars.${{vars.b}}}}: {closing}" in issues
    assert not any("vars.note" in issue for issue in issues), issues


@pytest.mark.parametrize(
    ("flow", "key"), [("{every: ${vars.n}}", "seed"), ("[1, ${vars.n}]", "seed.1")]
)
def test_an_unquoted_reference_in_a_flow_collection_says_to_quote_it(
    project: Project, flow: str, key: str
) -> None:
    """YAML reads its `{` as the start of a mapping: the parser's own message named no fix."""
    folder = project(**{"exp.yaml": f"name: x\nvars: {{n: 3}}\nseed: {flow}\n"})
    (issue,) = issues_of(folder / "exp.yaml")
    assert issue.startswith(f"{folder / 'exp.yaml'}:3: {key}: invalid YAML: "), issue
    assert issue.endswith("; quote a reference inside {...} or [...]: '${vars.n}'"), issue


def test_overrides_parse_yaml_values_and_index_lists(project: Project, valid_yaml: str) -> None:
    text = valid_yaml + "  callbacks:\n    - {kind: checkpoint, every_n_epochs: 1}\n"
    text = text.replace("tracker: {kind: jsonl}\n", "") + "tracker: {kind: jsonl}\n"
    folder = project(**{"exp.yaml": text})
    config = load_config(
        folder / "exp.yaml",
        [
            "trainer.max_epochs=4",
            "trainer.callbacks.0.every_n_epochs=2",
            "trainer.forward_properties=[p, q]",
            "tracker={kind: noop}",
            "trainer.initializer.kind=checkpoint",
            "trainer.initializer.path=w.pt",
        ],
    )
    assert config.trainer.max_epochs == 4
    assert config.trainer.callbacks[0].every_n_epochs == 2
    assert config.trainer.forward_properties == ["p", "q"]
    assert config.tracker.kind == "noop"
    assert (
        config.trainer.initializer is not None and config.trainer.initializer.kind == "checkpoint"
    )


def test_overrides_apply_before_interpolation(project: Project, valid_yaml: str) -> None:
    folder = project(**{"exp.yaml": valid_yaml.replace("seed: 3", "seed: 3\nvars: {e: 1}")})
    text = (folder / "exp.yaml").read_text().replace("max_epochs: 2", "max_epochs: ${vars.e}")
    (folder / "exp.yaml").write_text(text)
    assert load_config(folder / "exp.yaml", ["vars.e=6"]).trainer.max_epochs == 6


def test_bad_overrides_name_the_override(project: Project, valid_yaml: str) -> None:
    folder = project(**{"exp.yaml": valid_yaml})
    issues = issues_of(
        folder / "exp.yaml",
        (
            "nonsense",
            "trainer.max_epochs.deeper=1",
            "trainer.forward_properties.5=z",
            "trainer.callbacks.0.every_n_epochs=2",
            "seed=[unclosed",
            "trainer.max_epochs=many",
        ),
    )
    path = folder / "exp.yaml"
    assert f"{path}:1: nonsense: bad override 'nonsense': expected key.path=value" in issues
    assert any("bad override 'trainer.max_epochs.deeper=1'" in i and ":14: " in i for i in issues)
    assert any("'trainer.forward_properties.5=z': index 5 is out of range" in i for i in issues)
    assert any("there is no list at trainer.callbacks" in i for i in issues)
    assert any(i.startswith(f"{path}:2: seed: bad override 'seed=[unclosed'") for i in issues)
    assert any(
        i.startswith(f"{path}:14: trainer.max_epochs: Input should be a valid integer")
        and "set by override 'trainer.max_epochs=many'" in i
        for i in issues
    )


def test_an_override_without_a_value_is_refused_and_null_is_said_explicitly(
    project: Project, valid_yaml: str
) -> None:
    """`key=` read as YAML is null: `trainer.max_epochs=$EPOCHS` with EPOCHS unset unset the
    stop criterion, and the error blamed the file; a null logging interval passed silently."""
    folder = project(**{"exp.yaml": valid_yaml})
    path = folder / "exp.yaml"
    issues = issues_of(path, ("trainer.max_epochs=", "seed= "))
    assert f"{path}:14: trainer.max_epochs: bad override 'trainer.max_epochs=': no value " in (
        "\n".join(issues)
    )
    assert any(
        "'seed= ': no value after '=' (a shell variable that is not set?)" in i for i in issues
    )
    assert any("trainer.max_epochs=null sets null" in i for i in issues)
    assert (
        load_config(path, ["trainer.max_epochs=null", "trainer.max_updates=5"]).trainer.max_epochs
        is None
    )


def test_all_errors_of_all_files_are_reported_at_once(project: Project, valid_yaml: str) -> None:
    folder = project(
        **{
            "_base.yaml": valid_yaml.replace("  width: 8", "  width: wide"),
            "exp.yaml": """\
                extends: _base.yaml
                name: "bad name!"
                trainer:
                  max_epochs: -1
                  bogus: true
                  callbacks:
                    - {kind: checkpoint}
                tracker: {kind: jsonl, filenam: x}
                """,
        }
    )
    issues = issues_of(folder / "exp.yaml")
    base, exp = folder / "_base.yaml", folder / "exp.yaml"
    expected = [
        f"{base}:7: model.width: Input should be a valid integer",
        f"{exp}:2: name: a name, not a path: ASCII letters, digits",
        f"{exp}:4: trainer.max_epochs: Input should be greater than or equal to 0",
        f"{exp}:5: trainer.bogus: unknown key (not allowed here)",
        f"{exp}:7: trainer.callbacks.0: set exactly one of every_n_epochs",
        f"{exp}:8: tracker.filenam: unknown key (not allowed here)",
    ]
    for start in expected:
        assert any(issue.startswith(start) for issue in issues), (start, issues)
    assert len(issues) == len(expected)


def test_missing_key_points_at_nearest_parent(project: Project, valid_yaml: str) -> None:
    folder = project(**{"exp.yaml": valid_yaml.replace("  effective_batch_size: 4\n", "")})
    (issue,) = issues_of(folder / "exp.yaml")
    assert issue == f"{folder / 'exp.yaml'}:12: trainer.effective_batch_size: missing required key"


def test_broken_yaml_reports_line_and_key_path(project: Project) -> None:
    folder = project(**{"exp.yaml": "name: x\ntrainer:\n  kind: a\n  forward: [1, 2\n  y: 3\n"})
    (issue,) = issues_of(folder / "exp.yaml")
    assert issue.startswith(f"{folder / 'exp.yaml'}:5: trainer.forward.1: invalid YAML: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\ntrainer:\n  kind: a\n\tmax_epochs: 3\n", ":4: trainer: invalid YAML: "),
        ("name: x\n\tseed: 3\n", ":2: <root>: invalid YAML: "),
    ],
)
def test_a_tab_between_two_keys_names_their_mapping_not_the_key_before(
    project: Project, text: str, expected: str
) -> None:
    folder = project(**{"exp.yaml": text})
    (issue,) = issues_of(folder / "exp.yaml")
    assert issue.startswith(f"{folder / 'exp.yaml'}{expected}"), issue
    assert "'\\t'" in issue


def test_duplicate_keys_are_reported(project: Project, valid_yaml: str) -> None:
    folder = project(**{"exp.yaml": valid_yaml + "seed: 4\n"})
    (issue,) = issues_of(folder / "exp.yaml")
    assert issue == (
        f"{folder / 'exp.yaml'}:20: seed: duplicate key (first written at line 2): write it once"
    )


def test_a_key_written_beside_a_merge_key_replaces_the_merged_one() -> None:
    """YAML's own rule for `<<: *anchor`; it was reported as a duplicate key."""
    text = (
        "a: &base {x: 1, y: 2}\n"
        "b:\n  <<: *base\n  y: 3\n"
        "c: {<<: [{y: 4, z: 5}, *base], z: 6}\n"  # the first merged mapping wins, then c's own
        "d: {<<: *base, y: 7, y: 8}\n"
    )
    tree, issues = parse_yaml(text, "exp.yaml", Budget(LoaderLimits()))
    assert tree["b"] == {"x": 1, "y": 3} and tree["b"].locs["y"].line == 4
    assert tree["c"] == {"x": 1, "y": 4, "z": 6}
    assert tree["d"] == {"x": 1, "y": 8}
    assert [str(issue) for issue in issues] == [
        "exp.yaml:6: d.y: duplicate key (first written at line 6): write it once"
    ]


def test_a_boolean_or_number_where_text_belongs_says_to_quote_it(
    project: Project, valid_yaml: str
) -> None:
    folder = project(**{"exp.yaml": valid_yaml.replace("name: demo", "name: yes")})
    (issue,) = issues_of(folder / "exp.yaml")
    assert issue == (
        f"{folder / 'exp.yaml'}:1: name: Input should be a valid string (got True); YAML reads "
        "unquoted booleans (yes/no, on/off, true/false) as such: quote the value for text"
    )
    (issue,) = issues_of(folder / "exp.yaml", ("name=12",))
    assert "(got 12); YAML reads unquoted numbers as such: quote the value for text" in issue


@pytest.mark.parametrize("character", ["\u2028", "\u2029", "\x85"])
def test_a_line_break_of_yaml_1_1_only_is_refused_at_the_line_editors_show(
    project: Project, valid_yaml: str, character: str
) -> None:
    """PyYAML breaks lines there, editors do not: every later line number would differ."""
    text = valid_yaml.replace("seed: 3", f"# a comment{character} ending here\nseed: x")
    folder = project(**{"exp.yaml": text})
    (issue,) = issues_of(folder / "exp.yaml")
    code = f"{ord(character):04X}"
    assert issue.startswith(f"{folder / 'exp.yaml'}:2: <root>: invalid YAML: character U+{code}")
    assert "line break in YAML 1.1 (as the run reads it) but not in YAML 1.2" in issue


@pytest.mark.parametrize(
    ("value", "key"),
    [("a\u2028b", "name"), ('"a\u2028b"', "name"), ("a\x07b", "name"), ("[x, a\x85b]", "name.1")],
)
def test_a_refused_character_inside_a_value_is_reported_at_that_key(
    project: Project, valid_yaml: str, value: str, key: str
) -> None:
    folder = project(**{"exp.yaml": valid_yaml.replace("name: demo", f"name: {value}")})
    (issue,) = issues_of(folder / "exp.yaml")
    assert issue.startswith(f"{folder / 'exp.yaml'}:1: {key}: invalid YAML: character U+")


def test_output_path_takes_the_home_folder_and_an_empty_path_is_the_working_directory(
    project: Project, valid_yaml: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    folder = project(**{"exp.yaml": valid_yaml.replace("seed: 3", "seed: 3\noutput_path: ~/x")})
    assert load_config(folder / "exp.yaml").output_path == str(tmp_path / "home" / "x")
    # as earlier versions wrote it into config.yaml: their runs resume
    assert load_config(folder / "exp.yaml", ("output_path=''",)).output_path == "."


def test_a_bad_field_weight_is_reported_at_its_own_key_and_override(
    project: Project, valid_yaml: str
) -> None:
    text = valid_yaml.replace("{pressure: 1.0}", "\n    pressure: -1.0\n    velocity: .nan")
    folder = project(**{"exp.yaml": text})
    path = folder / "exp.yaml"
    assert issues_of(path) == [
        f"{path}:19: trainer.field_weights.pressure: a weight must be >= 0 (got -1.0)",
        f"{path}:20: trainer.field_weights.velocity: a weight must be a finite number (got nan)",
    ]
    (issue,) = issues_of(
        path, ("trainer.field_weights.velocity=1.0", "trainer.field_weights.pressure=.inf")
    )
    assert issue == (
        f"{path}:19: trainer.field_weights.pressure: a weight must be a finite number (got inf) "
        "(set by override 'trainer.field_weights.pressure=.inf')"
    )


def test_a_rule_of_the_trainer_about_one_key_is_reported_at_that_key(
    project: Project, valid_yaml: str
) -> None:
    text = valid_yaml.replace("max_epochs: 2", "max_epochs: 2\n  compile_options: {dynamic: false}")
    folder = project(**{"exp.yaml": text})
    (issue,) = issues_of(folder / "exp.yaml")  # not at `trainer:`, line 12
    assert issue == (
        f"{folder / 'exp.yaml'}:15: trainer.compile_options: compile_options is set but "
        "use_torch_compile is not true"
    )


def test_unsafe_tags_are_rejected(project: Project) -> None:
    folder = project(**{"exp.yaml": "name: !!python/object/apply:os.system ['true']\n"})
    (issue,) = issues_of(folder / "exp.yaml")
    assert "invalid YAML" in issue and "python/object/apply" in issue


def test_top_level_must_be_a_mapping(project: Project) -> None:
    folder = project(**{"exp.yaml": "- a\n- b\n"})
    assert issues_of(folder / "exp.yaml") == [
        f"{folder / 'exp.yaml'}:1: <root>: the top level must be a mapping"
    ]


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    (issue,) = issues_of(tmp_path / "absent.yaml")
    assert "cannot read config file" in issue and "absent.yaml" in issue


def test_odd_keys_are_quoted_and_located(project: Project, valid_yaml: str) -> None:
    folder = project(**{"exp.yaml": valid_yaml + '"weird key": 1\n1.5: 2\n'})
    issues = issues_of(folder / "exp.yaml")
    path = folder / "exp.yaml"
    assert f'{path}:20: "weird key": unknown key (not allowed here)' in issues
    assert f'{path}:21: "1.5": Keys should be strings (got 1.5)' in issues


def test_unknown_kinds_point_at_the_kind_line(project: Project) -> None:
    text = """\
name: demo
datasets:
  train: {kind: "{module}:PointsDatasetConfig"}
model:
  kind: {module}.TinyModelConfig
  optimizer:
    lr: 1.0e-3
    kind: adamww
trainer:
  kind: weighted_loss
  max_epochs: 2
  effective_batch_size: 4
  field_weights: {pressure: 1.0}
  callbacks:
    - every_n_epochs: 1
      kind: checkpont
tracker:
  filename: m.jsonl
"""
    folder = project(**{"exp.yaml": text})
    exp = folder / "exp.yaml"
    # the line of the `kind:` key itself, not of the mapping that holds it; a missing kind is
    # reported where the mapping is, as other missing keys are
    issues = [issue.split(";")[0] for issue in issues_of(exp)]
    assert issues == [
        f"{exp}:8: model.optimizer.kind: unknown OptimizerConfig kind 'adamww'",
        f"{exp}:16: trainer.callbacks.0.kind: unknown CallbackConfig kind 'checkpont'",
        f"{exp}:17: tracker.kind: missing `kind` for TrackerConfig",
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("name: x\ntrainer:\n  kind: a\n  forward: [1, 2\n", 4),  # a bracket left open
        ("name: x\ntrainer: {kind: a\n", 2),
        ('name: x\nseed: 1\ndevice: "cpu\n', 3),  # a quote left open
    ],
)
def test_syntax_error_at_the_end_of_the_file_points_at_what_was_left_open(
    project: Project, text: str, line: int
) -> None:
    """The parser finds these at the end of the file, past its last line, where an editor or a
    pull request's annotation cannot show it."""
    folder = project(**{"exp.yaml": text})
    (issue,) = issues_of(folder / "exp.yaml")
    assert issue.startswith(f"{folder / 'exp.yaml'}:{line}: "), issue
    assert "invalid YAML" in issue
