"""`noether-config validate`: check files and report in text, JSON or GitHub annotations."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from noether.config.errors import ConfigError, ConfigIssue

if TYPE_CHECKING:
    from noether.config.cli_paths import Selection
    from noether.config.loader.limits import LoaderLimits

FORMATS = ("text", "json", "github")


class ValidateUsageError(Exception):
    """Misuse of `validate` (nothing to check, a missing path); the CLI exits 2."""


@dataclass
class FileResult:
    """The outcome of validating one experiment file."""

    path: str
    issues: list[ConfigIssue]
    notes: list[ConfigIssue] = field(default_factory=list)
    """What is valid but likely unintended (`ExperimentConfig.notes`); no failure."""
    uses: list[str] = field(default_factory=list)
    """The fragments named on the command line that this experiment reaches (why it is
    checked although it was not named)."""

    @property
    def valid(self) -> bool:
        return not self.issues


def validate_file(
    path: str, overrides: Sequence[str], root: str, limits: LoaderLimits | None = None
) -> FileResult:
    """Loads one file (includes only from inside `root`); every failure, expected or not,
    becomes issues instead of a traceback."""
    from noether.config.loader import load_config

    try:
        config = load_config(path, overrides, root=root, limits=limits)
    except ConfigError as error:
        return FileResult(path, error.issues)
    except RecursionError:
        return FileResult(path, [ConfigIssue(path, 1, "<root>", "the config nests too deeply")])
    except (Exception, SystemExit) as error:  # a broken plug-in or schema module, not a crash
        message = f"unexpected error while validating: {type(error).__name__}: {error}"
        return FileResult(path, [ConfigIssue(path, 1, "<root>", message)])
    return FileResult(path, [], config.notes())


def run_validate(
    paths: Sequence[str],
    overrides: Sequence[str],
    output: str,
    root: str | None = None,
    max_nodes: int | None = None,
    experiments_only: bool = False,
) -> tuple[int, str]:
    """Validates the files that `paths` select: (exit code, report in the `output` format).

    `paths` are the positional words: files, folders, globs and `key.path=value` overrides
    (`noether.config.cli_words`), which apply before those of `overrides` (`-o`). `root` is
    the folder that includes may be read from (default: per file, its git checkout's root,
    else the folder named for it); `max_nodes` overrides that limit.
    `experiments_only` skips YAML files whose top level has neither `trainer:` nor `extends:`
    (the pre-commit hook gets every changed YAML file); finding no experiment is then no error.
    A named fragment (`_*`, or with `experiments_only` a YAML file that is no experiment), and
    a YAML file found in a folder or by a glob that is no experiment, is checked through the
    experiments that reach it (`noether.config.cli_fragments`); one that no experiment uses is
    skipped with `experiments_only`, else validated on its own.

    Raises:
        ValidateUsageError: no path given, a path that does not exist, no file found, or a
            `root` that is not a folder.
    """
    from noether.config.cli_paths import PathUsageError, select_files
    from noether.config.cli_words import split_overrides
    from noether.config.loader.confine import default_root
    from noether.config.loader.limits import LoaderLimits
    from noether.config.loader.local_modules import config_folder, folder_modules

    paths, positional_overrides = split_overrides(paths)
    overrides = [*positional_overrides, *overrides]
    if not paths:
        raise ValidateUsageError("give at least one file, folder or glob to validate")
    if root is not None and not os.path.isdir(root):
        raise ValidateUsageError(f"--root {root!r} is not a folder")
    limits = LoaderLimits() if max_nodes is None else LoaderLimits(max_nodes=max_nodes)
    try:
        selection = select_files(list(paths), experiments_only)
    except PathUsageError as error:
        raise ValidateUsageError(str(error)) from None
    checked, uses = _take_fragments(selection, experiments_only, root, limits)
    if not selection.files and not selection.unreadable and not experiments_only:
        raise ValidateUsageError(
            "no experiment files found in "
            + ", ".join(repr(p) for p in paths)
            + f" ({len(selection.skipped)} fragment(s) skipped)"
        )
    given_root = os.path.realpath(root) if root is not None else None
    results: list[FileResult] = []
    # each folder's own schema modules: `kinds.py` of a/ and of b/ are two modules
    for folder, files in itertools.groupby(selection.files, key=config_folder):
        with folder_modules(folder):
            results.extend(
                _with_uses(
                    validate_file(
                        path,
                        overrides,
                        given_root or default_root(path, selection.scopes[path]),
                        limits,
                    ),
                    uses,
                )
                for path in files
            )
    results.extend(
        FileResult(folder, [ConfigIssue(folder, None, "<root>", f"cannot read folder: {why}")])
        for folder, why in selection.unreadable.items()
    )
    code = 0 if all(result.valid for result in results) else 1
    return code, render(results, selection.skipped, output, selection.others, checked)


def _with_uses(result: FileResult, uses: dict[str, list[str]]) -> FileResult:
    result.uses = uses.get(result.path, [])
    return result


def _take_fragments(
    selection: Selection, experiments_only: bool, root: str | None, limits: LoaderLimits
) -> tuple[list[str], dict[str, list[str]]]:
    """Replaces the named fragments of `selection` by the experiments that use them: (the
    fragments checked so, experiment -> the files it uses). A fragment that no experiment
    uses is skipped with `experiments_only`, else stays to be validated on its own.

    With `experiments_only` (the pre-commit hook, given the changed files), a named
    experiment is validated itself and its users are added too: a change to an experiment
    that others extend can break them."""
    from noether.config.cli_fragments import find_users, is_named_fragment
    from noether.config.cli_paths import is_experiment_file

    others = set(selection.others)
    by_name = {path for path in selection.named if is_named_fragment(path, root)}
    fragments = [path for path in selection.named if path in by_name or path in others]
    if not experiments_only:
        # found in a folder or by a glob, a file that is no experiment (`optim.yaml` that an
        # experiment includes) is a fragment too where an experiment reaches it
        named = set(selection.named)
        fragments += [p for p in selection.files if p not in named and not is_experiment_file(p)]
    taken = set(fragments)
    bases = []
    if experiments_only:
        selected = set(selection.files)
        bases = [path for path in selection.named if path in selected and path not in taken]
    if not fragments and not bases:
        return [], {}
    exclude = {os.path.realpath(path) for path in selection.files if path not in taken}
    users = find_users(fragments + bases, root, limits, exclude, reached_only=bases)
    unused = set(users.unused)
    checked: list[str] = []
    for fragment in fragments:
        if fragment in unused and not experiments_only:
            continue  # validated on its own, as any named file
        if fragment in selection.files:
            selection.files.remove(fragment)
        if fragment not in unused:
            checked.append(fragment)
            if fragment in others:
                selection.others.remove(fragment)
        elif fragment in by_name:
            if fragment in others:
                selection.others.remove(fragment)
            selection.skipped.append(fragment)
    for experiment in users.experiments:
        selection.files.append(experiment)
        selection.scopes[experiment] = users.scopes[experiment]
    return checked, users.experiments


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _annotation(level: str, issue: ConfigIssue, path: str) -> str:
    """One GitHub workflow command (`::error` / `::warning`) at the issue's file and line."""
    where = f"file={_escape_property(issue.file or path)}"
    if issue.line is not None:
        where += f",line={issue.line}"
    title = _escape_property(f"noether-config: {path}")
    return f"::{level} {where},title={title}::{_escape_data(f'{issue.key}: {issue.message}')}"


def _uses(result: FileResult) -> str:
    return f" (uses {', '.join(result.uses)})" if result.uses else ""


def render(
    results: Sequence[FileResult],
    skipped: Sequence[str],
    output: str,
    others: Sequence[str] = (),
    fragments: Sequence[str] = (),
) -> str:
    """The report of a validate run in one of FORMATS; `others` were skipped as not experiments,
    `fragments` were checked through the experiments that use them."""
    invalid = [result for result in results if not result.valid]
    summary = (
        f"{len(results)} file(s) checked: {len(results) - len(invalid)} valid, "
        f"{len(invalid)} invalid"
        + (
            f", {len(fragments)} fragment(s) checked through the files that use them"
            if fragments
            else ""
        )
        + (f", {len(skipped)} fragment(s) skipped" if skipped else "")
        + (f", {len(others)} other YAML file(s) skipped (not experiments)" if others else "")
    )
    if output == "json":
        import json

        document = {
            "valid": not invalid,
            "files": [
                {
                    "path": result.path,
                    "valid": result.valid,
                    "issues": [issue.to_dict() for issue in result.issues],
                    "notes": [note.to_dict() for note in result.notes],
                    "uses": list(result.uses),
                }
                for result in results
            ],
            "fragments_checked": list(fragments),
            "skipped": list(skipped),
            "not_experiments": list(others),
        }
        return json.dumps(document, indent=2)
    lines: list[str] = []
    for result in results:
        if output == "github":
            lines.extend(_annotation("error", issue, result.path) for issue in result.issues)
            lines.extend(_annotation("warning", note, result.path) for note in result.notes)
        elif result.valid:
            lines.append(f"ok: {result.path}{_uses(result)}")
            lines.extend(f"note: {note}" for note in result.notes)
        else:
            lines.append(f"invalid: {result.path}{_uses(result)}")
            lines.extend(str(issue) for issue in result.issues)
    lines.append(summary)
    return "\n".join(lines)
