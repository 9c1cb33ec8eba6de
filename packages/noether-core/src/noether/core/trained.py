"""A trained model back from its run folder: `load_model(run_dir, checkpoint, ema, device)`.

The model is rebuilt the way `noether-train` built it (its kind's target, from the model
part of the config the checkpoint was written with), then given the checkpoint's weights,
read with `weights_only=True`. Nothing else of the run is built: no datasets, optimizer,
trainer or tracker, so it works on a machine without the training data. A run driven from
Python has no config to rebuild from: its script passes the model built as it was trained
(`model=`), which gets the weights by the same rules.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated

import torch
from pydantic import TypeAdapter, ValidationError

from noether.config import ConfigError, Discriminated, KindError, ModelConfig
from noether.core.checkpoint import folders
from noether.core.checkpoint.folders import (
    LATEST_TAG,
    MODEL_FILE,
    CheckpointError,
    CheckpointInfo,
    CheckpointNotFoundError,
)
from noether.core.checkpoint.safe_files import load_file
from noether.core.counters import tag_update
from noether.core.models import ModelBase
from noether.core.runs import run_checkpoint_dir, run_config_path

DAMAGED = (
    f"holds checkpoint files without a readable {folders.MANIFEST_FILE} (a copy cut short, or "
    "damaged since)"
)

_MODEL_SCHEMA: TypeAdapter[ModelConfig] = TypeAdapter(
    Annotated[ModelConfig, Discriminated(ModelConfig)]
)


def load_model(
    run_dir: str | os.PathLike[str],
    checkpoint: str | None = None,
    ema: float | None = None,
    device: str | torch.device = "cpu",
    model: ModelBase | None = None,
) -> ModelBase:
    """The model of a run with the weights of one of its checkpoints, in eval mode.

    Args:
        run_dir: the run folder (`<output_path>/<name>/<run_id>`, with `config.yaml` and
            `checkpoints/`), from any working directory, also after the project moved.
        checkpoint: a checkpoint tag, i.e. a folder of `checkpoints/` (`E20_U640_S20480`,
            `best_loss.val.total`, `latest`, ...). None: the checkpoint (or the EMA weights
            written without one) furthest into training that holds the weights asked for
            (the rule `--resume` follows, which also refuses to pass over a damaged
            checkpoint).
        ema: load the EMA weights of this factor (`model_ema=<f>.pt`, written by the `ema`
            callback) instead of the trained weights.
        device: `cpu`, `cuda`, `cuda:N` or `auto`.
        model: the model to load the weights into, built as it was trained, instead of one
            rebuilt from the run's config: for a run driven from Python, which has none.

    Raises:
        CheckpointNotFoundError: no run folder, no such checkpoint (the message lists the
            existing ones), or a checkpoint without these weights (it names the checkpoints
            that hold them).
        CheckpointError: the checkpoint asked for, or one that may lie further into training
            than the newest weights found, is damaged; the model cannot be rebuilt from the
            run's config; or the weights file is refused or does not fit the model.
        ValueError: `ema` is no number.
        TypeError: `model` is no `ModelBase`.
        BuildError: `device` names a device that is not here.
    """
    from noether.core.build import BuildError, build_model_from, resolve_device
    from noether.core.resume import stored_config
    from noether.core.run_info import add_config_dir_to_path

    target_device = resolve_device(str(device))  # a bad device fails before anything is read
    given = model is not None
    if given:
        ModelBase.check_instance(model)
    run = Path(run_dir).expanduser()
    if not run.exists():
        raise CheckpointNotFoundError(f"{run} does not exist")
    _check_run_folder(run, model_given=given)
    factor = None if ema is None else _ema_factor(ema)
    filename = MODEL_FILE if factor is None else folders.ema_file(factor)
    tag = None if checkpoint is None else checkpoint.rstrip("/")
    folder, info = _checkpoint_folder(run, tag, filename, factor)
    if model is None:
        note = add_config_dir_to_path(run)  # the user's model modules, next to its config
        try:
            model_config = _MODEL_SCHEMA.validate_python(stored_config(run, info).get("model"))
            model = build_model_from(model_config)
        except (ValidationError, KindError, ConfigError, BuildError, ImportError) as error:
            hint = f" ({note})" if note else ""
            raise CheckpointError(
                f"cannot rebuild the model of {run} from its config{hint}: {_reason(error)}"
            ) from None
    weights = folder / filename
    state = load_file(weights)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        built = "given" if given else "built from the run's config"
        raise CheckpointError(
            f"{weights} does not fit the model {built}: {str(error).splitlines()[0]}"
        ) from None
    return model.to(target_device).eval()


def _check_run_folder(run: Path, model_given: bool) -> None:
    """A folder with the run's config (or, with a model given, its checkpoints), else a
    CheckpointNotFoundError that says what the folder is instead."""
    config = run_config_path(run)
    if config.is_file() or (model_given and run_checkpoint_dir(run).is_dir()):
        return
    if (run / folders.MANIFEST_FILE).is_file():
        hint = " (a checkpoint folder: pass its run folder and checkpoint=<its name>)"
    elif run_checkpoint_dir(run).is_dir():
        hint = (
            " (a run driven from Python: pass the model built as it was trained, "
            "load_model(run_dir, model=...))"
        )
    else:
        hint = ""
    raise CheckpointNotFoundError(f"{run} is not a run folder: it has no {config.name}{hint}")


def _reason(error: Exception) -> str:
    """One line per problem, each at its key path under `model`."""
    if not isinstance(error, ValidationError):
        return str(error)
    return "; ".join(
        ".".join(["model", *(str(part) for part in issue["loc"])]) + f": {issue['msg']}"
        for issue in error.errors()
    )


def _ema_factor(ema: object) -> float:
    """The EMA factor as a number (one read from a command line comes as text)."""
    try:
        return float(ema)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"ema is the factor of EMA weights, such as 0.999, not {ema!r}") from None


def _checkpoint_folder(
    run: Path, tag: str | None, filename: str, ema: float | None
) -> tuple[Path, CheckpointInfo | None]:
    """The folder of checkpoint `tag` (None: the one furthest into training) that holds
    `filename`, and its manifest (None for a folder that holds only EMA weights, written at an
    update without a checkpoint)."""
    checkpoint_dir = run_checkpoint_dir(run)
    complete = folders.list_checkpoints(checkpoint_dir)
    holding = [info for info in complete if (info.path / filename).is_file()]
    what = "weights (model.pt)" if ema is None else f"EMA weights of factor {ema:g} ({filename})"
    if tag is None:
        newest = _newest(holding)
        complete_paths = {info.path for info in complete}
        ema_only = [
            folder
            for folder in (_ema_only_folders(checkpoint_dir, filename) if ema is not None else [])
            if folder not in complete_paths
        ]
        chosen: tuple[Path, CheckpointInfo | None, float] | None = None
        if newest is not None:
            chosen = newest.path, newest, newest.update
        if ema_only and (chosen is None or _position(ema_only[-1]) > chosen[2]):
            chosen = ema_only[-1], None, _position(ema_only[-1])
        _refuse_newer_damaged(run, checkpoint_dir, -1 if chosen is None else chosen[2])
        if chosen is not None:
            return chosen[0], chosen[1]
        listing = ", ".join(info.tag for info in complete) or "none"
        written = sorted({f for p in _folders(checkpoint_dir) for f in folders.ema_factors_in(p)})
        ema_note = (
            f"; EMA factors written: {', '.join(written) or 'none'}" if ema is not None else ""
        )
        raise CheckpointNotFoundError(
            f"{run} has no checkpoint with {what} (complete checkpoints: {listing}{ema_note})"
        )
    folder = folders.resolve(checkpoint_dir, tag)
    if folder is None:
        loose = checkpoint_dir / tag
        if ema is not None and Path(tag).name == tag and (loose / filename).is_file():
            return loose, None  # EMA weights written at an update without a checkpoint
        if tag in folders.damaged(checkpoint_dir):
            raise CheckpointError(f"checkpoint {tag!r} of {run} {DAMAGED}")
        listing = ", ".join(info.tag for info in complete) or "none"
        raise CheckpointNotFoundError(
            f"{run} has no complete checkpoint {tag!r} (complete checkpoints: {listing})"
        )
    if not (folder / filename).is_file():
        found = ", ".join(info.tag for info in holding) or "none"
        factors = folders.ema_factors_in(folder)
        ema_note = f"; its EMA factors: {', '.join(factors)}" if factors else ""
        raise CheckpointNotFoundError(
            f"checkpoint {tag!r} of {run} holds no {what}{ema_note} (checkpoints that do: {found})"
        )
    return folder, folders.read_manifest(folder)


def _newest(infos: list[CheckpointInfo]) -> CheckpointInfo | None:
    """The one furthest into training (error checkpoints left out); at one update, a
    tagged one before `latest` before a best_* one, which are copies of the same weights."""
    candidates = [info for info in infos if not info.is_error]
    return max(
        candidates,
        key=lambda info: (
            info.update,
            not info.tag.startswith("best_"),
            info.tag != LATEST_TAG,
        ),
        default=None,
    )


def _folders(checkpoint_dir: Path) -> list[Path]:
    """The checkpoint folders of a run (not the staging or retired ones)."""
    if not checkpoint_dir.is_dir():
        return []
    return [p for p in checkpoint_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]


def _ema_only_folders(checkpoint_dir: Path, filename: str) -> list[Path]:
    """Folders that hold `filename`, by `_position` (file times are a copy's order)."""
    found = [p for p in _folders(checkpoint_dir) if (p / filename).is_file()]
    return sorted(found, key=_position)


def _position(folder: Path) -> float:
    """The update of the weights in a folder without a manifest, by its name (`E2_U64_S2048`);
    `latest` holds those of the EMA callback's last write, the newest; another name, none
    known (-1)."""
    if folder.name == LATEST_TAG:
        return math.inf
    update = tag_update(folder.name)
    return -1 if update is None else update


def _refuse_newer_damaged(run: Path, checkpoint_dir: Path, update: float) -> None:
    """A damaged checkpoint folder that may lie past `update`, the newest weights found, is
    not passed over for older weights (as `--resume` refuses it): the user decides."""
    for tag in folders.damaged(checkpoint_dir):
        position = _position(checkpoint_dir / tag)
        if position == -1 or position > update:
            raise CheckpointError(
                f"{run}: checkpoints/{tag} {DAMAGED}, and loading the newest weights would "
                "pass over it for older ones: restore or delete it, or name a checkpoint "
                "(checkpoint=...)"
            )


__all__ = ["load_model"]
