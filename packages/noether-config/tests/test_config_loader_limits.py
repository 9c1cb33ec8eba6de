"""Loader limits: aliases, merges, includes, references and nesting cannot blow a config up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from noether.config import ConfigError, load_config
from noether.config.loader import LoaderLimits, load_raw

Project = Callable[..., Path]


def issues_of(path: Path, limits: LoaderLimits | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, limits=limits)
    return [str(issue) for issue in caught.value.issues]


def alias_bomb(levels: int, width: int) -> str:
    """`levels` anchors, each a list of `width` aliases of the one before."""
    lines = ["a0: &a0 {kind: checkpoint, every_n_epochs: 1}"]
    for n in range(1, levels + 1):
        lines.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * width) + "]")
    return "\n".join(lines) + f"\nname: bomb\ntrainer:\n  callbacks: *a{levels}\n"


def test_alias_bomb_is_refused_at_the_alias_that_passes_the_limit(project: Project) -> None:
    folder = project(**{"exp.yaml": alias_bomb(9, 9)})
    (issue,) = issues_of(folder / "exp.yaml")
    # a0..a4 expand to 5 + 46 + 415 + 3,736 + 33,625 nodes; the 1st alias in a5 passes 50,000
    assert issue == (
        f"{folder / 'exp.yaml'}:6: a5.0: alias *a4: the config expands to more than 50,000 "
        "nodes (limit max_nodes)"
    )


def test_node_limit_is_configurable(project: Project) -> None:
    folder = project(**{"exp.yaml": alias_bomb(3, 9)})  # 3,736 nodes below a3, more after
    assert load_raw(folder / "exp.yaml").issues == []
    (issue,) = issues_of(folder / "exp.yaml", LoaderLimits(max_nodes=1_000))
    assert "a3.1: alias *a2: the config expands to more than 1,000 nodes" in issue


def test_merge_key_bomb_is_counted_like_aliases(project: Project) -> None:
    lines = ["m0: &m0 {x0: 1, y0: 2}"]
    for n in range(1, 12):
        merged = ", ".join(f"*m{n - 1}" for _ in range(6))
        lines.append(f"m{n}: &m{n} {{<<: [{merged}], x{n}: 1}}")
    folder = project(**{"exp.yaml": "\n".join(lines) + "\nname: x\n"})
    issues = issues_of(folder / "exp.yaml")
    assert any("alias *m" in issue and "(limit max_nodes)" in issue for issue in issues), issues


def test_literal_documents_are_bounded_too(project: Project) -> None:
    items = "".join(f"  - {i}\n" for i in range(2_000))
    folder = project(**{"exp.yaml": f"name: x\nbig:\n{items}"})
    (issue,) = issues_of(folder / "exp.yaml", LoaderLimits(max_nodes=1_000))
    assert issue.startswith(f"{folder / 'exp.yaml'}:")
    assert "big." in issue and "more than 1,000 nodes" in issue


def test_deep_nesting_is_refused_with_its_line_and_path(project: Project) -> None:
    block = "".join("  " * level + f"k{level}:\n" for level in range(100)) + "  " * 100 + "v\n"
    flow = "deep: " + "[" * 5_000 + "]" * 5_000 + "\n"
    folder = project(**{"block.yaml": block, "flow.yaml": flow})
    (issue,) = issues_of(folder / "block.yaml")
    assert issue.startswith(f"{folder / 'block.yaml'}:66: k0.k1.k2.")
    assert issue.endswith("nested more than 64 levels deep (limit max_depth)")
    (issue,) = issues_of(folder / "flow.yaml")
    assert "deep.0.0.0." in issue and "(limit max_depth)" in issue


def test_interpolation_bomb_stops_at_the_string_limit(project: Project) -> None:
    lines = ["v0: xxxxxxxxxx"]
    lines += [f"v{n}: '" + f"${{v{n - 1}}}" * 10 + "'" for n in range(1, 9)]
    folder = project(**{"exp.yaml": "\n".join(lines) + "\nname: x\n"})
    issues = issues_of(folder / "exp.yaml")
    path = folder / "exp.yaml"
    limit = "the interpolated string is longer than 100,000 characters (limit max_string_chars)"
    for n in range(5, 9):  # v4 has 100,000 characters, v5 would have a million
        assert f"{path}:{n + 1}: v{n}: {limit}" in issues
    assert not any("v4" in issue and "limit" in issue for issue in issues)


def test_all_interpolated_text_together_is_capped(project: Project) -> None:
    text = "v0: '" + "x" * 60_000 + "'\n" + "".join(f"c{n}: '${{v0}}!'\n" for n in range(20))
    folder = project(**{"exp.yaml": text + "name: x\n"})
    issues = issues_of(folder / "exp.yaml")
    over = [issue for issue in issues if "(limit max_resolved_chars)" in issue]
    assert len(over) == 4  # 16 strings of 60,001 characters fit into 1,000,000
    assert over[0].startswith(f"{folder / 'exp.yaml'}:18: c16: ")


def test_copies_of_mappings_by_reference_are_counted(project: Project) -> None:
    lines = ["r0: {a: 1, b: 2, c: 3, d: 4}"]
    lines += [f"r{n}: [" + ", ".join([f"'${{r{n - 1}}}'"] * 8) + "]" for n in range(1, 10)]
    folder = project(**{"exp.yaml": "\n".join(lines) + "\nname: x\n"})
    issues = issues_of(folder / "exp.yaml")
    assert any(
        issue.startswith(f"{folder / 'exp.yaml'}:") and "(limit max_nodes)" in issue
        for issue in issues
    ), issues


def test_long_reference_chains_are_refused(project: Project) -> None:
    chain = "".join(f"k{n}: ${{k{n + 1}}}\n" for n in range(500)) + "k500: end\nname: x\n"
    folder = project(**{"exp.yaml": chain})
    issues = issues_of(folder / "exp.yaml")
    assert f"{folder / 'exp.yaml'}:1: k0: references chain more than 64 deep (limit max_depth)" in (
        issues
    )


def test_include_bomb_is_bounded(project: Project) -> None:
    files = {"f0.yaml": "leaf: [1, 2, 3]\n"}
    for n in range(1, 8):
        files[f"f{n}.yaml"] = "".join(f"i{k}: !include f{n - 1}.yaml\n" for k in range(8))
    files["exp.yaml"] = "name: x\nbomb: !include f7.yaml\n"
    folder = project(**files)
    issues = issues_of(folder / "exp.yaml")
    assert any("(limit max_nodes)" in i or "(limit max_files)" in i for i in issues), issues


def test_file_count_and_bytes_are_bounded(project: Project) -> None:
    folder = project(
        **{
            "part.yaml": "x: 1\n",
            "exp.yaml": "name: x\n" + "".join(f"p{n}: !include part.yaml\n" for n in range(5)),
            "big.yaml": "name: '" + "x" * 5_000 + "'\n",
        }
    )
    issues = issues_of(folder / "exp.yaml", LoaderLimits(max_files=3))
    too_many = [issue for issue in issues if "(limit max_files)" in issue]
    assert len(too_many) == 3  # the config and two includes were read; p2, p3, p4 were not
    assert too_many[0].startswith(f"{folder / 'exp.yaml'}:4: p2: cannot read file ")
    (issue,) = issues_of(folder / "big.yaml", LoaderLimits(max_bytes=1_000))
    assert "cannot read config file" in issue and "(limit max_bytes)" in issue


def test_huge_integers_stay_text_and_are_reported_where_they_are(
    project: Project, valid_yaml: str
) -> None:
    digits = "9" * 5_000
    sexagesimal = "1" + ":30" * 20_000
    folder = project(
        **{
            "exp.yaml": valid_yaml.replace("max_epochs: 2", f"max_epochs: {digits}")
            + f"other: {sexagesimal}\n"
        }
    )
    issues = issues_of(folder / "exp.yaml")
    path = folder / "exp.yaml"
    epochs = next(issue for issue in issues if ": trainer.max_epochs: " in issue)
    assert epochs.startswith(f"{path}:14: trainer.max_epochs: ")
    assert len(epochs) < 300  # the value is quoted as a short excerpt
    assert f"{path}:20: other: unknown key (not allowed here)" in issues


def test_long_values_and_keys_are_quoted_short(project: Project, valid_yaml: str) -> None:
    long_kind = "k" * 10_000
    folder = project(
        **{
            "exp.yaml": valid_yaml.replace("kind: weighted_loss", f"kind: {long_kind}")
            + f"? {'q' * 10_000}\n: 1\n"
        }
    )
    issues = issues_of(folder / "exp.yaml")
    assert len(issues) == 2
    assert all(len(issue) < 600 and "\n" not in issue for issue in issues), issues
    assert any("kkkk..." in issue for issue in issues)
