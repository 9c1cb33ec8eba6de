"""Which files `noether-config validate` checks, from the files, folders and globs it is given.

Rule: a file named explicitly is always checked (a fragment through the experiments that use
it: `noether.config.cli_fragments`). Inside a folder (searched recursively for
`*.yaml` / `*.yml`) or a glob, files and folders whose name starts with `_` or `.` are skipped:
they hold fragments for `extends:` / `!include` (e.g. `_base.yaml`, `_partials/optim.yaml`),
not experiments. (A file found so that is no experiment but that an experiment includes is a
fragment as well: `noether.config.cli_validate`.)

With `experiments_only` (the pre-commit hook's setting), files that are not experiments are
skipped as well, named ones included: an experiment's top level has a `trainer:` or `extends:`
key; CI workflows, compose files and other tools' YAML do not.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from noether.config.cli_words import looks_like_override
from noether.config.text_encoding import yaml_encoding

YAML_SUFFIXES = (".yaml", ".yml")
_SCAN_CHARS = 64 * 1024
"""Longest piece of a line that the experiment check holds at once."""

# A top-level key starts a line (block style, the way experiment files are written).
_EXPERIMENT_KEY = re.compile(r"""(["']?)(?:trainer|extends)\1[ \t]*:(?:\s|$)""")


def _has_magic(text: str) -> bool:
    return any(char in text for char in "*?[")


class PathUsageError(Exception):
    """A path that does not exist or a pattern that matches nothing."""


@dataclass
class Selection:
    """Files to validate, in order, and fragments skipped by the naming rule."""

    files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    """YAML files skipped as not experiments (only with `experiments_only`)."""
    unreadable: dict[str, str] = field(default_factory=dict)
    """Folders that could not be searched, with the reason: their files are unchecked, so the
    run must fail rather than pass on fewer files."""
    scopes: dict[str, str] = field(default_factory=dict)
    """The folder the user named for each file to validate (the file's own folder when the
    file was named): where its includes may be read from outside a git checkout."""
    named: list[str] = field(default_factory=list)
    """Files named on the command line (not found in a folder or by a glob)."""

    def add(self, path: str, skip: bool, scope: str) -> bool:
        """Adds a path not seen before; whether it was added."""
        target = self.skipped if skip else self.files
        if path in self.files or path in self.skipped:
            return False
        target.append(path)
        if not skip:
            self.scopes[path] = scope
        return True


def is_fragment_name(parts: list[str]) -> bool:
    """True when any of the path's parts (below the given folder) starts with `_` or `.`."""
    return any(part.startswith(("_", ".")) for part in parts if part not in (".", ".."))


def is_experiment_file(path: str) -> bool:
    """Whether the file's top level has a `trainer:` or `extends:` key.

    Lines are scanned first: fast on any file, and a broken experiment is still recognised
    (and then reported by validation). Memory stays bounded on any file (a line is read in
    pieces of at most _SCAN_CHARS). A file without such a line may still be written in flow
    style (JSON, as sweep scripts write) or indented: its top-level keys are read from the
    parser's events (`_top_level_keys`). Anything that is not a regular file (a FIFO would
    block the open) or cannot be read counts as an experiment, so that validation reports why.
    """
    try:
        status = os.stat(path)
        if not stat.S_ISREG(status.st_mode):
            return True
        with open(path, "rb") as raw:
            codec = yaml_encoding(raw.read(4))
        with open(path, encoding=codec, errors="replace") as handle:
            at_line_start = True
            while piece := handle.readline(_SCAN_CHARS):
                if at_line_start and _EXPERIMENT_KEY.match(piece.removeprefix("\ufeff")):
                    return True
                at_line_start = piece.endswith("\n")
        if status.st_size > _EVENT_SCAN_BYTES:
            return False
        with open(path, encoding=codec, errors="replace") as handle:
            return not _top_level_keys(handle.read()).isdisjoint(("trainer", "extends"))
    except (OSError, ValueError):
        return True


_EVENT_SCAN_BYTES = 1024 * 1024
"""Largest file whose top-level keys are read from parser events when no line told."""


def _top_level_keys(text: str) -> set[str]:
    """The plain keys of the first document's top-level mapping, as far as it parses.

    Events only: nothing is built, so aliases are not expanded and memory stays bounded.
    """
    import yaml

    keys: set[str] = set()
    depth, key_next = 0, True
    try:
        for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                if depth == 0 and isinstance(event, yaml.SequenceStartEvent):
                    break
                depth += 1
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
                if depth == 1:
                    key_next = not key_next  # a collection value (or key) ended
            elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent) and depth == 1:
                if key_next and isinstance(event, yaml.ScalarEvent):
                    keys.add(event.value)
                key_next = not key_next
            elif isinstance(event, yaml.DocumentEndEvent):
                break
    except yaml.YAMLError:
        pass  # a broken file: the keys before the error
    return keys


def _walk_folder(folder: str, selection: Selection, scope: str) -> bool:
    """Adds the folder's YAML files; whether it held any or could not all be searched."""
    found: list[str] = []
    closed: list[str] = []

    def unreadable(error: OSError) -> None:
        where = error.filename if isinstance(error.filename, str) else folder
        selection.unreadable.setdefault(where, error.strerror or str(error))
        closed.append(where)

    for current, _, names in os.walk(folder, onerror=unreadable):
        found.extend(os.path.join(current, n) for n in names if n.endswith(YAML_SUFFIXES))
    for path in sorted(found):
        parts = os.path.relpath(path, folder).split(os.sep)
        selection.add(path, is_fragment_name(parts), scope)
    return bool(found or closed)


def _expand_glob(pattern: str, selection: Selection) -> None:
    import glob  # only globs need it; start-up matters

    matches = sorted(glob.glob(pattern, recursive=True))
    parts = pattern.replace(os.sep, "/").split("/")
    fixed = next((i for i, part in enumerate(parts) if _has_magic(part)), len(parts))
    scope = "/".join(parts[:fixed]) or ("/" if pattern.startswith(("/", os.sep)) else ".")
    added = 0
    for match in matches:
        if os.path.isdir(match):
            _walk_folder(match, selection, scope)
            added += 1
        elif match.endswith(YAML_SUFFIXES):
            fragment = is_fragment_name(match.replace(os.sep, "/").split("/")[fixed:])
            selection.add(match, fragment, scope)
            added += 1
    if not added:
        raise PathUsageError(f"no YAML file matches {pattern!r}")


def _exists(path: str) -> bool:
    """Whether something is at `path` although it is no regular file or folder that can be
    reached; validation then reports why it cannot be read, instead of "no such file"."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return False
    except OSError:  # a loop of symlinks, a folder on the way that may not be searched
        pass
    return True


def select_files(paths: list[str], experiments_only: bool = False) -> Selection:
    """Expands files, folders and globs; with `experiments_only`, keeps only experiment files.

    Raises:
        PathUsageError: a path does not exist, or a folder or glob holds no YAML file (a
            CI job must not pass on fewer files than it names).
    """
    selection = Selection()
    for path in paths:
        if os.path.isfile(path):
            if selection.add(path, skip=False, scope=os.path.dirname(path) or "."):
                selection.named.append(path)
        elif os.path.isdir(path):
            if not _walk_folder(path, selection, path):
                raise PathUsageError(f"no YAML file in folder {path!r}")
        elif _has_magic(path):
            _expand_glob(path, selection)
        elif _exists(path):  # a FIFO, a symlink loop, a file behind a closed folder
            selection.add(path, skip=False, scope=os.path.dirname(path) or ".")
        else:
            hint = " (an override is written key.path=value)" if looks_like_override(path) else ""
            raise PathUsageError(f"no such file or folder: {path!r}{hint}")
    if experiments_only:
        selection.others = [path for path in selection.files if not is_experiment_file(path)]
        others = set(selection.others)
        selection.files = [path for path in selection.files if path not in others]
    return selection
