"""The checkpoint initializer: a new run starts from another run's weights (fine-tuning).

Only the weights are loaded; optimizer, counters and callbacks start afresh. The file is read
and checked against the built model in `prepare`, before the tracker starts, so a file that
does not fit leaves no tracker run behind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from noether.config.schemas.initializer import CheckpointInitializerConfig
from noether.core.checkpoint import folders
from noether.core.checkpoint.folders import CheckpointError
from noether.core.checkpoint.initializers import (
    InitializerBase,
    InitializerError,
    weight_mismatches,
)
from noether.core.checkpoint.safe_files import load_file
from noether.core.checkpoint.writer import MODEL_FILE, unwrap_model
from noether.core.runs import PathProvider

logger = logging.getLogger(__name__)

SHOWN_KEYS = 3
"""Keys named of each side when none of the file's tensors is one of the model's."""


class CheckpointInitializer(InitializerBase):
    """Loads model weights from a file (or a checkpoint folder holding `model.pt`).

    Training starts afresh: optimizer, counters and callbacks are untouched. With
    `strict: false`, keys missing from the file or unknown to the model are logged and skipped
    (e.g. a new head when fine-tuning), but at least one of the model's tensors must load; a
    shape mismatch of a shared key is always an error.
    """

    config: CheckpointInitializerConfig

    def __init__(
        self, config: CheckpointInitializerConfig, path_provider: PathProvider | None = None
    ):
        super().__init__(config, path_provider)
        path = Path(config.path).expanduser()
        if path.is_dir():
            path = path / MODEL_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"checkpoint initializer: no weights file {path}{_weights_near(Path(config.path))}"
            )
        self.path = path
        self._weights: Mapping[str, Any] | None = None

    def describe(self) -> str:
        return f"loading weights from {self.path}"

    def prepare(self, model: nn.Module | None = None) -> None:
        """Reads the weights file (kept until `init_weights`) and checks that it fits
        `model`, before the tracker starts."""
        self._weights = self._read()
        if model is not None:
            self._check_fit(self._weights, model)

    def describe_fit(self, model: nn.Module) -> str:
        """What loading into `model` takes (`--dry-run`): "6 of the model's 6 tensors from
        PATH", and how many keys of each side are skipped.

        Raises:
            InitializerError: the file does not fit `model` (as `init_weights` would).
        """
        weights = self._read() if self._weights is None else self._weights
        self._check_fit(weights, model)
        expected = unwrap_model(model).state_dict()
        shared = sum(key in weights for key in expected)
        skipped = [
            f"{len(keys)} {what}"
            for keys, what in (
                ([key for key in expected if key not in weights], "left as initialised"),
                ([key for key in weights if key not in expected], "unknown to the model"),
            )
            if keys
        ]
        more = f" ({', '.join(skipped)})" if skipped else ""
        return f"{shared} of the model's {len(expected)} tensors from {self.path}{more}"

    def init_weights(self, model: nn.Module) -> None:
        weights = self._read() if self._weights is None else self._weights
        self._weights = None
        self._check_fit(weights, model)
        try:
            result = unwrap_model(model).load_state_dict(weights, strict=self.config.strict)
        except RuntimeError as error:
            raise InitializerError(f"cannot load weights from {self.path}: {error}") from None
        if result.missing_keys:
            logger.warning(
                "keys not in %s (left as initialised): %s", self.path, result.missing_keys
            )
        if result.unexpected_keys:
            logger.warning("keys in %s unknown to the model: %s", self.path, result.unexpected_keys)
        loaded = len(unwrap_model(model).state_dict()) - len(result.missing_keys)
        logger.info("loaded %d tensors of the model from %s", loaded, self.path)

    def _read(self) -> Mapping[str, Any]:
        try:
            weights = load_file(self.path)
        except CheckpointError as error:
            raise InitializerError(f"checkpoint initializer: {error}") from None
        if not isinstance(weights, Mapping) or not any(
            isinstance(value, Tensor) for value in weights.values()
        ):
            raise InitializerError(
                f"checkpoint initializer: {self.path} holds no model weights (tensors by "
                "parameter name), as a model.pt or model_ema=<f>.pt of a checkpoint folder does"
            )
        return weights

    def _check_fit(self, weights: Mapping[str, Any], model: nn.Module) -> None:
        """Refuses what `load_state_dict` would (with `strict`: keys on one side only), and a
        file of which no tensor is one of the model's (a renamed model, the wrong file)."""
        strict = self.config.strict
        expected = unwrap_model(model).state_dict()
        if expected and not any(key in weights for key in expected):
            raise InitializerError(
                f"checkpoint initializer: none of the {len(weights)} tensors in {self.path} "
                f"is one of this model's (the file's: {_first(weights)}; the model's: "
                f"{_first(expected)}): was the model renamed, or is it another file?"
            )
        mismatches = weight_mismatches(weights, model, strict)
        one_sided = any(key not in weights for key in expected) or any(
            key not in expected for key in weights
        )
        if mismatches:
            hint = (
                "; strict: false loads the keys both have and skips the others"
                if strict and one_sided
                else ""
            )
            raise InitializerError(
                f"checkpoint initializer: the weights in {self.path} do not fit this model "
                f"(was the model changed?): {'; '.join(mismatches)}{hint}"
            )


def _first(keys: Mapping[str, Any]) -> str:
    names = list(keys)
    more = f", ... ({len(names) - SHOWN_KEYS} more)" if len(names) > SHOWN_KEYS else ""
    return ", ".join(names[:SHOWN_KEYS]) + more


def _weights_near(path: Path) -> str:
    """Names the checkpoints with weights in the folder a wrong path points at (a run folder,
    its `checkpoints/`, or a misspelled tag next to them), so the fix is a copy away."""
    path = path.expanduser()
    for folder in (path / "checkpoints", path, path.parent):
        if folder.is_dir():
            found = folders.list_checkpoints(folder)
            tags = [info.tag for info in found if MODEL_FILE in info.files]
            if tags:
                return f" (checkpoints with weights in {folder}: {', '.join(tags)})"
    return ""


__all__ = ["CheckpointInitializer"]
