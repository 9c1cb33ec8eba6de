"""Includes and bases are read only inside the config's root, and only YAML files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from noether.config import ConfigError, load_config
from noether.config.loader import default_root, load_raw

Project = Callable[..., Path]
SECRET = "NOETHER-TEST-SECRET-7f3a"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """tmp/outside/secret.yaml (not to be read) and tmp/proj/ (where configs live)."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.yaml").write_text(f"token: {SECRET}\n")
    (tmp_path / "proj" / "sub").mkdir(parents=True)
    (tmp_path / "proj" / "part.yaml").write_text("x: 1\n")
    return tmp_path


def issues_of(path: Path, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    return [str(issue) for issue in caught.value.issues]


@pytest.mark.parametrize(
    "include",
    ["../outside/secret.yaml", "{tmp}/outside/secret.yaml", "sub/../../outside/secret.yaml"],
)
def test_include_outside_the_root_is_refused_at_its_line(tree: Path, include: str) -> None:
    config = tree / "proj" / "exp.yaml"
    config.write_text(f"name: x\n\ntrainer: !include {include.format(tmp=tree)}\n")
    issues = issues_of(config)
    refused = (
        f"{config}:3: trainer: !include '{include.format(tmp=tree)}' is outside the config root"
    )
    assert any(issue.startswith(refused) for issue in issues), issues
    assert all(SECRET not in issue for issue in issues)


def test_extends_outside_the_root_is_refused(tree: Path) -> None:
    config = tree / "proj" / "exp.yaml"
    config.write_text("# a base from elsewhere\nextends: ../outside/secret.yaml\nname: x\n")
    (issue,) = [i for i in issues_of(config) if "outside" in i]
    assert issue.startswith(
        f"{config}:2: extends: extends '../outside/secret.yaml' is outside the config root "
        f"{os.path.realpath(tree / 'proj')}"
    )


def test_symlinks_out_of_the_root_are_refused(tree: Path) -> None:
    proj = tree / "proj"
    (proj / "link.yaml").symlink_to(tree / "outside" / "secret.yaml")
    (proj / "linked_dir").symlink_to(tree / "outside", target_is_directory=True)
    config = proj / "exp.yaml"
    config.write_text("name: x\na: !include link.yaml\nb: !include linked_dir/secret.yaml\n")
    issues = issues_of(config)
    assert any(i.startswith(f"{config}:2: a: !include 'link.yaml' is outside") for i in issues)
    assert any(
        i.startswith(f"{config}:3: b: !include 'linked_dir/secret.yaml' is outside") for i in issues
    )
    assert all(SECRET not in issue for issue in issues)


def test_symlinks_inside_the_root_are_followed(tree: Path) -> None:
    proj = tree / "proj"
    (proj / "sub" / "alias.yaml").symlink_to(proj / "part.yaml")
    config = proj / "exp.yaml"
    config.write_text("name: x\nextra: !include sub/alias.yaml\n")
    assert load_raw(config).data["extra"] == {"x": 1}


def test_only_yaml_files_can_be_included(tree: Path) -> None:
    proj = tree / "proj"
    (proj / "notes.txt").write_text(f"{SECRET}\n")
    (proj / "sneaky.yaml").symlink_to(proj / "notes.txt")
    config = proj / "exp.yaml"
    config.write_text("name: x\na: !include notes.txt\nb: !include sneaky.yaml\n")
    issues = issues_of(config)
    only_yaml = "is not a YAML file: only .yaml and .yml files can be used"
    assert f"{config}:2: a: !include 'notes.txt' {only_yaml}" in issues
    assert f"{config}:3: b: !include 'sneaky.yaml' {only_yaml}" in issues
    assert all(SECRET not in issue for issue in issues)


def test_default_root_is_the_git_checkout_else_the_config_folder(tree: Path) -> None:
    config = tree / "proj" / "sub" / "exp.yaml"
    config.write_text("name: x\nextra: !include ../part.yaml\n")
    assert default_root(config) == os.path.realpath(tree / "proj" / "sub")
    assert "outside the config root" in " ".join(issues_of(config))
    (tree / "proj" / ".git").mkdir()
    assert default_root(config) == os.path.realpath(tree / "proj")
    assert load_raw(config).data["extra"] == {"x": 1}
    (tree / "proj" / ".git").rmdir()
    (tree / "proj" / ".git").write_text("gitdir: /elsewhere\n")  # a worktree or submodule
    assert default_root(config) == os.path.realpath(tree / "proj")


def test_root_keyword_widens_or_narrows_the_root(tree: Path) -> None:
    config = tree / "proj" / "sub" / "exp.yaml"
    config.write_text("name: x\nextra: !include ../part.yaml\n")
    assert load_raw(config, root=tree / "proj").data["extra"] == {"x": 1}
    narrow = tree / "proj" / "sub"
    assert "outside the config root" in " ".join(issues_of(config, root=narrow))


def test_refused_include_is_never_opened(tree: Path) -> None:
    os.mkfifo(tree / "outside" / "pipe.yaml")  # opening it would block until a writer comes
    config = tree / "proj" / "exp.yaml"
    config.write_text("name: x\na: !include ../outside/pipe.yaml\nb: !include /dev/zero\n")
    issues = issues_of(config)
    assert sum("is outside the config root" in issue for issue in issues) == 2


def test_a_pipe_inside_the_root_is_not_read(tree: Path) -> None:
    os.mkfifo(tree / "proj" / "pipe.yaml")
    config = tree / "proj" / "exp.yaml"
    config.write_text("name: x\na: !include pipe.yaml\n")
    assert (
        f"{config}:2: a: cannot read file '{tree / 'proj' / 'pipe.yaml'}': not a regular file"
        in (issues_of(config))
    )
