"""Bump one workspace package's version and the sibling ranges that point at it.

    python tools/bump_version.py noether-config minor      # 0.1.0 -> 0.2.0
    python tools/bump_version.py noether-core 0.3.1        # an explicit version

Other packages' and the example projects' (`examples/*/pyproject.toml`) dependencies on the
bumped one (`noether-config>=0.1.0,<0.2`) become `>=<new>,<next breaking>` (next minor below
1.0, next major from 1.0). Files are edited in place, keeping their formatting. Run `uv lock`
afterwards.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class BumpError(Exception):
    """Unknown package, bad version or a pyproject.toml that cannot be rewritten."""


def next_version(current: str, part: str) -> str:
    """`major`, `minor`, `patch` or an explicit X.Y.Z (which must be greater)."""
    match = _VERSION.match(current)
    if not match:
        raise BumpError(f"current version {current!r} is not X.Y.Z")
    major, minor, patch = (int(group) for group in match.groups())
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    if part == "patch":
        return f"{major}.{minor}.{patch + 1}"
    explicit = _VERSION.match(part)
    if not explicit:
        raise BumpError(f"expected major, minor, patch or X.Y.Z, got {part!r}")
    if tuple(int(g) for g in explicit.groups()) <= (major, minor, patch):
        raise BumpError(f"new version {part} is not greater than {current}")
    return part


def upper_bound(version: str) -> str:
    """The first version that may break users of `version` (semver, 0.x minor is breaking)."""
    major, minor, _ = (int(group) for group in version.split("."))
    return f"{major + 1}" if major >= 1 else f"0.{minor + 1}"


def _packages(root: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pyproject in sorted((root / "packages").glob("*/pyproject.toml")):
        name = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
        found[name] = pyproject
    return found


def bump(root: Path, package: str, part: str) -> tuple[str, str, list[Path]]:
    """Rewrites the files; returns (old version, new version, files changed)."""
    packages = _packages(root)
    if package not in packages:
        raise BumpError(f"unknown package {package!r}; known: {', '.join(sorted(packages))}")
    own = packages[package]
    text = own.read_text(encoding="utf-8")
    old = tomllib.loads(text)["project"]["version"]
    new = next_version(old, part)
    pattern = re.compile(r'^(version\s*=\s*")' + re.escape(old) + '"', re.MULTILINE)
    rewritten, count = pattern.subn(rf'\g<1>{new}"', text, count=1)
    if count != 1:
        raise BumpError(f'no `version = "{old}"` line in {own}')
    own.write_text(rewritten, encoding="utf-8")
    changed = [own]
    spec = re.compile(r'"' + re.escape(package) + r'(\s*\[[^\]]*\])?\s*[<>=!~][^";]*(;[^"]*)?"')
    replacement = f">={new},<{upper_bound(new)}"
    # the siblings, and the example projects, whose ranges must admit the workspace's versions
    examples = sorted((root / "examples").glob("*/pyproject.toml"))
    for pyproject in [path for name, path in packages.items() if name != package] + examples:
        text = pyproject.read_text(encoding="utf-8")
        rewritten = spec.sub(
            lambda m: f'"{package}{m.group(1) or ""}{replacement}{m.group(2) or ""}"', text
        )
        if rewritten != text:
            pyproject.write_text(rewritten, encoding="utf-8")
            changed.append(pyproject)
    return old, new, changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Bump a workspace package's version.")
    parser.add_argument("package", help="distribution name, e.g. noether-config")
    parser.add_argument("part", help="major, minor, patch or an explicit X.Y.Z")
    parser.add_argument("--root", type=Path, default=ROOT, help="workspace root")
    args = parser.parse_args(argv)
    try:
        old, new, changed = bump(args.root, args.package, args.part)
    except (BumpError, OSError, KeyError, tomllib.TOMLDecodeError) as error:
        print(f"bump_version: error: {error}", file=sys.stderr)
        return 2
    print(f"{args.package}: {old} -> {new}")
    for path in changed:
        print(f"  rewrote {path}")
    print("now run `uv lock`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
