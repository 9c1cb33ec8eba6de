"""Safe YAML parsing that records the line of every key and list item.

Only `yaml.SafeLoader` constructors run (no arbitrary objects); the one extra tag is
`!include <path>`, which becomes an `Include` marker resolved by the composer. Nodes are
counted as they are composed (`yaml_guard`), so aliases cannot expand a document past its
budget. Text is parsed by libyaml when PyYAML has it (several times faster); a short document
that libyaml rejects is parsed again by the pure-Python parser, whose error messages say more
(e.g. which character); a long one keeps libyaml's message, so that no file costs seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from noether.config.errors import ConfigIssue
from noether.config.loader.limits import Budget
from noether.config.loader.nodes import KeyPath, LDict, LList, Loc, dotted
from noether.config.loader.yaml_guard import ExpansionGuard, YamlRefusedError, construct_bounded_int

INCLUDE_TAG = "!include"
REPARSE_MAX_CHARS = 64 * 1024
"""Longest text that the pure-Python parser reads again for a clearer syntax error message."""


@dataclass(frozen=True)
class Include:
    """A `!include path` value, to be replaced by the content of that file."""

    path: str
    loc: Loc


class LineLoader(ExpansionGuard, yaml.SafeLoader):
    """SafeLoader that builds `LDict` / `LList` with the line of every key and item."""

    file: str = "<string>"
    issues: list[ConfigIssue]
    pending: list[tuple[Any, Any, int, str]]
    """(container, key, line, message) of problems whose key path is known only at the end."""


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


MERGE_TAG = "tag:yaml.org,2002:merge"


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode) -> Iterator[LDict]:
    data = LDict(loc=Loc(loader.file, _line(node)))
    yield data
    # `<<: *anchor` merge keys: flattening puts the merged pairs first, so a key written in
    # this mapping replaces a merged one (as YAML says); only a key written twice here is a
    # duplicate
    own = {id(key_node) for key_node, _ in node.value if key_node.tag != MERGE_TAG}
    loader.flatten_mapping(node)
    written: set[Any] = set()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            loader.pending.append((data, "<key>", _line(key_node), "a key must be a plain value"))
            continue
        if id(key_node) in own:
            if key in written:
                first = data.locs[key].line
                message = f"duplicate key (first written at line {first}): write it once"
                loader.pending.append((data, key, _line(key_node), message))
            written.add(key)
        data[key] = loader.construct_object(value_node, deep=True)
        data.locs[key] = Loc(loader.file, _line(key_node))


def _construct_sequence(loader: LineLoader, node: yaml.SequenceNode) -> Iterator[LList]:
    data = LList(loc=Loc(loader.file, _line(node)))
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.locs.append(Loc(loader.file, _line(item)))


def _construct_include(loader: LineLoader, node: yaml.Node) -> Include:
    """An `Include`; one without a path (`!include`, `!include [a, b]`) is reported by the
    composer, which knows its key path."""
    path = str(node.value).strip() if isinstance(node, yaml.ScalarNode) else ""
    return Include(path, Loc(loader.file, _line(node)))


LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
LineLoader.add_constructor(INCLUDE_TAG, _construct_include)
LineLoader.add_constructor("tag:yaml.org,2002:int", construct_bounded_int)

_CParser: Any
try:
    from yaml.cyaml import CParser as _CParser  # type: ignore[attr-defined]
except ImportError:  # PyYAML built without libyaml
    _CParser = None
_FastLineLoader: Any = None
"""LineLoader on libyaml's events (same composer and constructors, so the same results); None
without libyaml."""
if _CParser is not None:

    def _fast_init(self: Any, stream: str) -> None:
        _CParser.__init__(self, stream)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        ExpansionGuard.__init__(self)

    _FastLineLoader = type(
        "_FastLineLoader",
        (ExpansionGuard, _CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver),
        {
            "__init__": _fast_init,
            "file": "<string>",
            "yaml_constructors": dict(LineLoader.yaml_constructors),
        },
    )


class YamlLoadError(Exception):
    """The text is not valid YAML or is beyond a limit; carries the issue to report."""

    def __init__(self, issue: ConfigIssue) -> None:
        super().__init__(str(issue))
        self.issue = issue


def parse_yaml(
    text: str, file: str, budget: Budget, depth: int = 0
) -> tuple[Any, list[ConfigIssue]]:
    """Parses one YAML document into a located tree; returns it with non-fatal issues.

    Its nodes are charged to `budget`; `depth` is how deep in the config it starts (an include).

    Raises:
        YamlLoadError: the text is not one valid YAML document, or passes a limit.
    """
    line_break = _YAML11_LINE_BREAK.search(text)
    if line_break is not None:
        raise YamlLoadError(_line_break_issue(line_break.start(), text, file))
    try:
        data, loader = _load_either(text, file, budget, depth)
    except YamlRefusedError as error:
        issue = ConfigIssue(file, error.line, dotted(error.path) or "<root>", error.message)
        raise YamlLoadError(issue) from None
    except yaml.MarkedYAMLError as error:
        raise YamlLoadError(_syntax_issue(error, text, file)) from None
    except yaml.reader.ReaderError as error:
        raise YamlLoadError(_character_issue(error, text, file)) from None
    except yaml.YAMLError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise YamlLoadError(ConfigIssue(file, None, "<root>", f"invalid YAML: {first}")) from None
    for refused in loader.differing_numbers:
        loader.issues.append(ConfigIssue(file, refused.line, dotted(refused.path), refused.message))
    if loader.pending:
        paths = _container_paths(data)
        for container, key, line, message in loader.pending:
            path = (*paths.get(id(container), ()), key)
            loader.issues.append(ConfigIssue(file, line, dotted(path), message))
    return data, loader.issues


def _load_either(text: str, file: str, budget: Budget, depth: int) -> tuple[Any, Any]:
    """libyaml's parse, or on a syntax error in a short text the pure-Python one (see top)."""
    if _FastLineLoader is None:
        return _load(LineLoader, text, file, budget, depth)
    used = budget.nodes
    try:
        return _load(_FastLineLoader, text, file, budget, depth)
    except yaml.YAMLError:
        if len(text) > REPARSE_MAX_CHARS:
            raise
    budget.nodes = used  # the failed parse's nodes are charged again by the second one
    return _load(LineLoader, text, file, budget, depth)


def _load(loader_class: Any, text: str, file: str, budget: Budget, depth: int) -> tuple[Any, Any]:
    """(document, loader) of one parse; the loader holds the issues it found."""
    loader = loader_class(text)
    loader.file = file
    loader.issues = []
    loader.pending = []
    loader.guard(budget, depth)
    try:
        return loader.get_single_data(), loader
    finally:
        loader.dispose()


def _container_paths(root: Any) -> dict[int, KeyPath]:
    """Key path of every mapping and list in a freshly parsed tree, by identity."""
    paths: dict[int, KeyPath] = {}
    todo: list[tuple[Any, KeyPath]] = [(root, ())]
    while todo:
        node, path = todo.pop()
        if isinstance(node, dict):
            paths[id(node)] = path
            todo.extend((value, (*path, key)) for key, value in node.items())
        elif isinstance(node, list):
            paths[id(node)] = path
            todo.extend((value, (*path, index)) for index, value in enumerate(node))
    return paths


_REFERENCE = re.compile(r"\$\{[^{}]*\}")


def _syntax_issue(error: yaml.MarkedYAMLError, text: str, file: str) -> ConfigIssue:
    """A syntax error at its line; one found at the end of the file (a bracket or quote left
    open) at the line that opened it, since the end lies past the last line, where neither an
    editor nor a pull request's annotation can show it."""
    mark = error.problem_mark or error.context_mark
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if mark is not None and mark.line >= lines:
        mark = error.context_mark if error.context_mark is not None else None
        line: int | None = int(mark.line) + 1 if mark is not None else max(lines, 1)
    else:
        line = int(mark.line) + 1 if mark is not None else None
    parts = [_shorter(part) for part in (error.context, error.problem) if part]
    message = "invalid YAML: " + ("; ".join(parts) if parts else str(error).splitlines()[0])
    written = text.splitlines()[line - 1] if line is not None and line <= lines else ""
    reference = _REFERENCE.search(written)
    if reference is not None and "flow" in (error.context or ""):
        # `{` opens a mapping inside {...} and [...]: the reference must be a quoted string
        message += f"; quote a reference inside {{...}} or [...]: '{reference.group()}'"
    path = _path_before_error(text)
    return ConfigIssue(file, line, dotted(path) or "<root>", message)


_YAML11_LINE_BREAK = re.compile("[\x85\u2028\u2029]")
"""Line breaks in YAML 1.1 (PyYAML and libyaml) but ordinary characters in YAML 1.2 (editors):
the file would have other lines, and another meaning, in each."""


def _line_break_issue(start: int, text: str, file: str) -> ConfigIssue:
    """A YAML 1.1-only line break, at its line as editors count lines."""
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    character = f"U+{ord(text[start]):04X}"
    message = (
        f"invalid YAML: character {character} at column {column} is a line break in YAML 1.1 "
        "(as the run reads it) but not in YAML 1.2 (editors): remove it, or write it as "
        f"\\u{ord(text[start]):04x} inside double quotes"
    )
    return ConfigIssue(file, line, dotted(_path_before_error(text[:start])) or "<root>", message)


def _character_issue(error: yaml.reader.ReaderError, text: str, file: str) -> ConfigIssue:
    """A character that YAML does not allow (NUL, control characters), at its line.

    Located by searching for it, not from the error's position: libyaml counts bytes, the
    pure-Python reader characters.
    """
    found = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if found is None:
        return ConfigIssue(file, None, "<root>", f"invalid YAML: {error.reason}")
    start = found.start()
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    character = f"U+{ord(found.group()[0]):04X} at column {column}"
    message = f"invalid YAML: character {character}: {error.reason}"
    return ConfigIssue(file, line, dotted(_path_before_error(text[:start])) or "<root>", message)


def _shorter(text: str, limit: int = 200) -> str:
    """A parser's message part, cut short: it may quote a tag or text of any length."""
    return text if len(text) <= limit else text[:limit] + "..."


def _path_before_error(text: str) -> KeyPath:
    """Key path the parser was inside when it failed, found by replaying the YAML events.

    When `text` (the part before a refused character) parses whole, the character continues
    the last scalar written (`note: a<U+2028>b`): the path of that scalar.
    """
    frames: list[list[Any]] = []  # ["map", key, expecting_key] or ["seq", index]
    short = len(text) <= REPARSE_MAX_CHARS or _CParser is None
    events_of: Any = yaml.SafeLoader if short else yaml.CSafeLoader  # as in _load_either
    last_scalar: KeyPath = ()
    try:
        for event in yaml.parse(text, Loader=events_of):
            if isinstance(event, yaml.ScalarEvent):
                _node_started(frames, event.value)
                end = event.end_mark
                if end is not None and end.index >= len(text.rstrip(" \t")):
                    last_scalar = _frames_path(frames, closed_value=True)
            elif isinstance(event, yaml.AliasEvent):
                _node_started(frames)
            elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                _node_started(frames, collection=True)
                frames.append(
                    ["map", None, True]
                    if isinstance(event, yaml.MappingStartEvent)
                    else ["seq", -1]
                )
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                frames.pop()
                if frames and frames[-1][0] == "map":
                    frames[-1][2] = True
    except yaml.YAMLError:
        return _frames_path(frames)
    return last_scalar


def _frames_path(frames: list[list[Any]], closed_value: bool = False) -> KeyPath:
    """The key path of the open frames; with `closed_value`, including the key of the
    innermost mapping's value that has just ended (a scalar)."""
    path: list[str | int] = []
    for depth, frame in enumerate(frames):
        innermost = depth == len(frames) - 1
        if frame[0] == "seq" and frame[1] >= 0:
            path.append(frame[1])
        elif (
            frame[0] == "map"
            and frame[1] is not None
            and (not frame[2] or (closed_value and innermost))
        ):
            path.append(str(frame[1]))  # inside its value (not between two entries)
    return tuple(path)


def _node_started(frames: list[list[Any]], key: Any = None, collection: bool = False) -> None:
    """A node starts inside the top frame: a list item, a mapping key (`key`: the scalar's
    value; None for an alias or a complex key) or a mapping value. A scalar or alias value
    ends its entry; a collection's entry ends with the collection."""
    if not frames:
        return
    top = frames[-1]
    if top[0] == "seq":
        top[1] += 1
    elif top[2]:
        top[1], top[2] = key, False
    elif not collection:
        top[2] = True
