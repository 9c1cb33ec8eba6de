"""Safe YAML parsing that records the line of every key and list item.

Only `yaml.SafeLoader` constructors run (no arbitrary objects); the one extra tag is
`!include <path>`, which becomes an `Include` marker resolved by the composer. Text is parsed
by libyaml when PyYAML has it (several times faster); a document that libyaml rejects is parsed
again by the pure-Python parser, whose error messages say more (e.g. which character).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from noether.config.errors import ConfigIssue
from noether.config.loader.nodes import KeyPath, LDict, LList, Loc, dotted

INCLUDE_TAG = "!include"


@dataclass(frozen=True)
class Include:
    """A `!include path` value, to be replaced by the content of that file."""

    path: str
    loc: Loc


class LineLoader(yaml.SafeLoader):
    """SafeLoader that builds `LDict` / `LList` with the line of every key and item."""

    file: str = "<string>"
    issues: list[ConfigIssue]
    pending: list[tuple[Any, Any, int, str]]
    """(container, key, line, message) of problems whose key path is known only at the end."""


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode) -> Iterator[LDict]:
    data = LDict(loc=Loc(loader.file, _line(node)))
    yield data
    loader.flatten_mapping(node)  # `<<: *anchor` merge keys
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            loader.pending.append((data, "<key>", _line(key_node), "a key must be a plain value"))
            continue
        if key in data.locs:
            first = data.locs[key].line
            message = f"duplicate key (first written at line {first}); the last one wins"
            loader.pending.append((data, key, _line(key_node), message))
        data[key] = loader.construct_object(value_node, deep=True)
        data.locs[key] = Loc(loader.file, _line(key_node))


def _construct_sequence(loader: LineLoader, node: yaml.SequenceNode) -> Iterator[LList]:
    data = LList(loc=Loc(loader.file, _line(node)))
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.locs.append(Loc(loader.file, _line(item)))


def _construct_include(loader: LineLoader, node: yaml.Node) -> Include | None:
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        loader.issues.append(
            ConfigIssue(loader.file, _line(node), "<root>", "!include takes a file path")
        )
        return None
    return Include(str(node.value).strip(), Loc(loader.file, _line(node)))


LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
LineLoader.add_constructor(INCLUDE_TAG, _construct_include)

_CSafeLoader: Any = getattr(yaml, "CSafeLoader", None)
_FastLineLoader: Any = None
"""LineLoader on libyaml's parser (same constructors, so the same results); None without it."""
if _CSafeLoader is not None:
    _FastLineLoader = type(
        "_FastLineLoader",
        (_CSafeLoader,),
        {"file": "<string>", "yaml_constructors": dict(LineLoader.yaml_constructors)},
    )


class YamlSyntaxError(Exception):
    """The text is not valid YAML; carries the issue to report."""

    def __init__(self, issue: ConfigIssue) -> None:
        super().__init__(str(issue))
        self.issue = issue


def parse_yaml(text: str, file: str) -> tuple[Any, list[ConfigIssue]]:
    """Parses one YAML document into a located tree; returns it with non-fatal issues.

    Raises:
        YamlSyntaxError: the text is not one valid YAML document.
    """
    loaded = None
    if _FastLineLoader is not None:
        with contextlib.suppress(yaml.YAMLError):  # parsed again below, for a clearer message
            loaded = _load(_FastLineLoader, text, file)
    if loaded is None:
        try:
            loaded = _load(LineLoader, text, file)
        except yaml.MarkedYAMLError as error:
            raise YamlSyntaxError(_syntax_issue(error, text, file)) from None
        except yaml.YAMLError as error:
            issue = ConfigIssue(file, None, "<root>", f"invalid YAML: {error}")
            raise YamlSyntaxError(issue) from None
    data, loader = loaded
    if loader.pending:
        paths = _container_paths(data)
        for container, key, line, message in loader.pending:
            path = (*paths.get(id(container), ()), key)
            loader.issues.append(ConfigIssue(file, line, dotted(path), message))
    return data, loader.issues


def _load(loader_class: Any, text: str, file: str) -> tuple[Any, Any]:
    """(document, loader) of one parse; the loader holds the issues it found."""
    loader = loader_class(text)
    loader.file = file
    loader.issues = []
    loader.pending = []
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


def _syntax_issue(error: yaml.MarkedYAMLError, text: str, file: str) -> ConfigIssue:
    mark = error.problem_mark or error.context_mark
    line = int(mark.line) + 1 if mark is not None else None
    parts = [part for part in (error.context, error.problem) if part]
    message = "invalid YAML: " + ("; ".join(parts) if parts else str(error).splitlines()[0])
    path = _path_before_error(text)
    return ConfigIssue(file, line, dotted(path) or "<root>", message)


def _path_before_error(text: str) -> KeyPath:
    """Key path the parser was inside when it failed, found by replaying the YAML events."""
    frames: list[list[Any]] = []  # ["map", key, expecting_key] or ["seq", index]

    def node_started(is_scalar_key: Any = None) -> None:
        if not frames:
            return
        top = frames[-1]
        if top[0] == "seq":
            top[1] += 1
        elif top[2]:
            top[1], top[2] = is_scalar_key, False
        else:
            top[2] = True

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.ScalarEvent):
                node_started(event.value)
            elif isinstance(event, yaml.AliasEvent):
                node_started()
            elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                _descend(frames)
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
        pass
    path: list[str | int] = []
    for frame in frames:
        if frame[0] == "seq" and frame[1] >= 0:
            path.append(frame[1])
        elif frame[0] == "map" and frame[1] is not None:
            path.append(str(frame[1]))
    return tuple(path)


def _descend(frames: list[list[Any]]) -> None:
    """A collection starts inside the top frame: as a list item or a mapping value."""
    if not frames:
        return
    top = frames[-1]
    if top[0] == "seq":
        top[1] += 1
    elif top[2]:
        top[1], top[2] = None, False  # a complex key; rare in configs
