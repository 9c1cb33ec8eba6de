"""Whether the noether packages installed together are versions made for each other.

Each package states the versions of its siblings it works with (`noether-config>=0.2.0,<0.3`).
An install that updated one package alone (`pip install -U noether-trainers`, `--no-deps`)
breaks those ranges: a module moved between versions is then missing, and a command fails
with a bare ImportError. The commands check the ranges first and say which packages to
update. Read from the installed metadata only; nothing is imported.
"""

from __future__ import annotations

import re
from importlib import metadata

NOETHER_DISTRIBUTIONS = ("noether-config", "noether-core", "noether-trainers", "noether-callbacks")

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*)$")
_CLAUSE = re.compile(r"^\s*(==|!=|<=|>=|<|>)\s*([0-9][0-9.]*)\s*$")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _meets(installed: str, clauses: str) -> bool:
    """Whether `installed` meets every clause of `>=0.2.0,<0.3` (clauses it cannot read pass:
    the installer judged them)."""
    have = _version(installed)
    for clause in filter(None, (part.strip() for part in clauses.split(","))):
        match = _CLAUSE.match(clause)
        if match is None:
            continue
        operator, wanted = match.group(1), _version(match.group(2))
        width = max(len(have), len(wanted))
        a, b = have + (0,) * (width - len(have)), wanted + (0,) * (width - len(wanted))
        holds = {
            "==": a == b,
            "!=": a != b,
            "<=": a <= b,
            ">=": a >= b,
            "<": a < b,
            ">": a > b,
        }[operator]
        if not holds:
            return False
    return True


def mismatched_versions() -> list[str]:
    """One line for each requirement between installed noether packages that the installed
    versions break ("noether-core 0.2.0 needs noether-config>=0.2.0,<0.3; 0.1.0 is
    installed"); [] when they fit (a package that is not installed is not judged here)."""
    problems = []
    for name in NOETHER_DISTRIBUTIONS:
        try:
            requires = metadata.requires(name) or []
            own = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            match = _REQUIREMENT.match(requirement)
            if match is None or ";" in requirement:  # an extra's or a platform's
                continue
            needed, clauses = _normal(match.group(1)), match.group(2)
            if needed not in NOETHER_DISTRIBUTIONS:
                continue
            try:
                installed = metadata.version(needed)
            except metadata.PackageNotFoundError:
                continue
            if not _meets(installed, clauses):
                problems.append(
                    f"{name} {own} needs {needed}{clauses.replace(' ', '')}; "
                    f"{needed} {installed} is installed"
                )
    return problems


def mismatch_message(command: str) -> str | None:
    """What `command` says before it starts when the installed noether packages do not fit
    together, or None when they do."""
    problems = mismatched_versions()
    if not problems:
        return None
    lines = "\n".join(f"  {problem}" for problem in problems)
    return (
        f"{command}: the installed noether packages are not versions made for each other:\n"
        f"{lines}\n  update them together: pip install -U {' '.join(NOETHER_DISTRIBUTIONS)}"
    )


__all__ = ["NOETHER_DISTRIBUTIONS", "mismatch_message", "mismatched_versions"]
