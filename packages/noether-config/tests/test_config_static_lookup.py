"""Judging a dotted path (`pkg.mod:name`) from the module's source, never importing it."""

from __future__ import annotations

import sys
import textwrap

import pytest

from noether.config.static_lookup import find_module_spec, missing_name, top_level_names


@pytest.fixture
def package(tmp_path, monkeypatch):
    """`lookup_pkg` with a `losses` module whose import would fail (it raises)."""
    root = tmp_path / "lookup_pkg"
    root.mkdir()
    (root / "__init__.py").write_text("raise RuntimeError('lookup_pkg must not be imported')\n")
    (root / "losses.py").write_text(
        textwrap.dedent(
            """\
            raise RuntimeError("lookup_pkg.losses must not be imported")

            import math as m
            from os import path as joined
            try:
                from fast import huber
            except ImportError:
                def huber(a, b):
                    return a - b
            if m.pi > 3:
                SCALE: float = 2.0
            for _i in range(2):
                pass
            if (walrus := 3) > 2:
                pass
            class Weighted:
                pass
            def log_cosh(a, b):
                global made_later
                made_later = 1
            """
        )
    )
    (root / "sub").mkdir()
    (root / "sub" / "__init__.py").write_text("")
    (root / "star.py").write_text("from math import *\n")
    (root / "dynamic.py").write_text("def __getattr__(name):\n    return name\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return root


@pytest.mark.parametrize(
    "path",
    [
        "lookup_pkg.losses:huber",
        "lookup_pkg.losses.log_cosh",
        "lookup_pkg.losses:Weighted.__call__",
        "lookup_pkg.losses:SCALE",
        "lookup_pkg.losses:m",
        "lookup_pkg.losses:joined",
        "lookup_pkg.losses:made_later",
        "lookup_pkg.losses:walrus",
        "lookup_pkg.losses:_i",
        "lookup_pkg:sub",  # a submodule: left to the import
        "lookup_pkg.star:anything",  # a star import: cannot be told
        "lookup_pkg.dynamic:anything",  # a module __getattr__: cannot be told
        "math:sqrt",  # a built-in module: cannot be read
    ],
)
def test_existing_or_unknowable_names_pass(package, path):
    assert missing_name(path) is None
    assert "lookup_pkg.losses" not in sys.modules
    assert "lookup_pkg" not in sys.modules


def test_a_missing_name_is_named_with_the_closest(package):
    message = missing_name("lookup_pkg.losses:log_cosch")
    assert message == (
        f"module 'lookup_pkg.losses' ({package / 'losses.py'}) has no top-level name "
        "'log_cosch'; did you mean log_cosh?"
    )


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("lookup_pkg.loses:huber", "lookup_pkg.loses"),
        ("no_such_lookup_pkg.losses:huber", "no_such_lookup_pkg.losses"),
        ("lookup_pkg.losses.huber:fn", "lookup_pkg.losses.huber"),  # a module, not a package
    ],
)
def test_a_module_that_cannot_be_found_is_named(package, path, module):
    assert missing_name(path).startswith(f"cannot find module {module!r} of {path!r}")


def test_find_module_spec_executes_no_package(package):
    spec = find_module_spec("lookup_pkg.losses")
    assert spec is not None and spec.origin == str(package / "losses.py")
    assert "lookup_pkg" not in sys.modules


def test_syntax_errors_are_left_for_run_time():
    assert top_level_names("def broken(:\n") is None
