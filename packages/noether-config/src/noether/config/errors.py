"""Config errors that name the file, line and key path of every problem at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config: where it is (file, line, dotted key path) and what is wrong."""

    file: str
    """Path of the YAML file that holds the key (as given, relative paths stay relative)."""
    line: int | None
    """1-based line of the key (or of its nearest existing parent); None when unknown."""
    key: str
    """Dotted key path from the top of the merged config, e.g. `trainer.callbacks.0.kind`."""
    message: str
    """What is wrong, in words."""

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        key = self.key or "<root>"
        return f"{where}: {key}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON output."""
        return asdict(self)


class ConfigRulesError(ValueError):
    """Several broken rules of one schema, raised by one validator; the loader reports each
    at the key its message starts with (`trainer.callbacks.1.metric_key: ...`)."""

    def __init__(self, messages: Iterable[str]) -> None:
        self.messages: list[str] = list(messages)
        super().__init__("; ".join(self.messages))


class ConfigError(Exception):
    """A config could not be loaded or validated; holds every issue found, not just the first."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues: list[ConfigIssue] = list(issues)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.issues,))


def type_with_article(value: Any) -> str:
    """The value's type as a message names it: "an int", "a list", "None"."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


def error_at(schema: str, key: str, message: str, value: Any) -> Exception:
    """A validation error located at one `key` of a schema, for a validator of the whole
    schema whose rule is about that key: reported at its line, not at the schema's."""
    from pydantic import ValidationError
    from pydantic_core import PydanticCustomError

    error = PydanticCustomError("value_error", message)
    return ValidationError.from_exception_data(
        schema, [{"type": error, "loc": (key,), "input": value}]
    )
