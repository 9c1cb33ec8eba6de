"""Field docstrings are kept beside a module's bytecode and re-read only while the source is
unchanged: a later process skips parsing the source, an edited source is parsed again."""

from __future__ import annotations

import importlib
import marshal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from noether.config import docs

SOURCE = '''
from pydantic import BaseModel


class WidgetConfig(BaseModel):
    """A widget."""

    width: int = 1
    """How wide the widget is."""
'''

_counter = iter(range(1_000_000))


def parse(module: ModuleType) -> docs.ModuleDocs:
    """The docs of a module as a new process would find them (no in-process memo)."""
    return docs._module_field_docs.__wrapped__(module.__name__)  # type: ignore[attr-defined]


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A freshly imported schema module whose bytecode (and so its __pycache__) is written."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"docs_cache_schemas_{next(_counter)}"
    (tmp_path / f"{name}.py").write_text(SOURCE)
    importlib.invalidate_caches()
    yield importlib.import_module(name)
    sys.modules.pop(name, None)


def cache_file(module: ModuleType) -> Path:
    path = docs._cache_path(module)
    assert path is not None
    return Path(path)


def test_parse_writes_the_cache_beside_the_bytecode(module: ModuleType) -> None:
    assert parse(module) == {"WidgetConfig": {"width": "How wide the widget is."}}
    assert cache_file(module).is_file()
    assert cache_file(module).parent == Path(module.__cached__).parent


def test_unchanged_source_is_answered_from_the_cache(module: ModuleType) -> None:
    parse(module)
    fmt, stamp, _ = marshal.loads(cache_file(module).read_bytes())
    cache_file(module).write_bytes(marshal.dumps((fmt, stamp, {"WidgetConfig": {"width": "x"}})))
    assert parse(module) == {"WidgetConfig": {"width": "x"}}


def test_edited_source_is_parsed_again(module: ModuleType) -> None:
    parse(module)
    source = Path(module.__file__ or "")
    source.write_text(SOURCE.replace("How wide the widget is.", "Width in millimetres."))
    assert parse(module) == {"WidgetConfig": {"width": "Width in millimetres."}}


def test_unreadable_cache_falls_back_to_parsing(module: ModuleType) -> None:
    parse(module)
    cache_file(module).write_bytes(b"not marshal data")
    assert parse(module) == {"WidgetConfig": {"width": "How wide the widget is."}}


def test_nothing_is_written_when_bytecode_writing_is_off(
    module: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert parse(module) == {"WidgetConfig": {"width": "How wide the widget is."}}
    assert not cache_file(module).exists()
