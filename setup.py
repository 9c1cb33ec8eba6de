"""What `pip install .` of this repository installs: only noether-config, from this checkout.

pre-commit installs a hook's repository with `pip install .` in its clone. The root
pyproject.toml is a virtual uv workspace (no [project] table), so this file gives that command
something to install: a distribution with no code whose one dependency is
`packages/noether-config` of the same clone, so the `noether-config-validate` hook needs no
package index for noether (only for pydantic, typer and PyYAML). uv ignores this file; to work
on noether, use `uv sync` (see README.md).
"""

from pathlib import Path

from setuptools import setup

CONFIG_PACKAGE = Path(__file__).resolve().parent / "packages" / "noether-config"

setup(
    name="noether-pre-commit-hook",
    version="0.1.0",
    description="Installs noether-config from this checkout for the pre-commit hook.",
    py_modules=[],
    packages=[],
    install_requires=[f"noether-config @ {CONFIG_PACKAGE.as_uri()}"],
    python_requires=">=3.11",
)
