"""CheckpointWriter: whole checkpoints in `checkpoint_dir/<tag>/`, published atomically.

A checkpoint (weights, optimizer, trainer state, manifest) is written as one unit (see
`folders`): a loader sees all of it or none of it. During an update, the loop holds the
writes that callbacks ask for and makes them once every callback of the update ran and its
metrics row was written (`hold` / `release`), so each checkpoint is the state between two
updates, whichever callback asked for it and in whichever order the callbacks run.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Protocol

from torch import nn

from noether.core.checkpoint import folders
from noether.core.checkpoint.folders import (
    MANIFEST_FILE,
    MODEL_FILE,
    OPTIM_FILE,
    TRAINER_FILE,
    CheckpointError,
    CheckpointNotFoundError,
)
from noether.core.checkpoint.safe_files import check_storable, load_file, save_file
from noether.core.checkpoint.signal_checkpoints import (
    SIGNAL_TAG_PREFIXES,
    remove_signal_checkpoints_before,
    signal_tag,
    superseded_latest,
)
from noether.core.counters import UpdateCounter
from noether.core.distributed import barrier, get_world_size, is_rank0
from noether.core.run_logging import details_logger
from noether.core.runs import PathProvider, run_checkpoint_dir

logger = logging.getLogger(__name__)

LATEST_TAG = folders.LATEST_TAG
"""The tag that always names the newest checkpoint written with `save_latest` or as an alias."""
# The files of a checkpoint folder (MANIFEST_FILE, MODEL_FILE, OPTIM_FILE, TRAINER_FILE) are
# defined in `folders`, which reads them back; import them from here.


class TrainerLike(Protocol):
    """The part of BaseTrainer that a checkpoint holds."""

    def state_dict(self) -> dict[str, Any]: ...


def unwrap_model(model: nn.Module) -> nn.Module:
    """The user's module inside DDP / torch.compile wrappers."""
    while True:
        inner = getattr(model, "_orig_mod", None)  # torch.compile
        if isinstance(inner, nn.Module):
            model = inner
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def atomic_save(obj: Any, path: Path) -> None:
    """`torch.save` to `path` through a synced temporary file and `os.replace`."""
    save_file(obj, path)


def _position(
    counter: UpdateCounter | None, trainer_state: dict[str, Any] | None
) -> dict[str, int]:
    """(epoch, update, sample) of a checkpoint, for its manifest."""
    if trainer_state is not None and isinstance(trainer_state.get("update_counter"), dict):
        state = trainer_state["update_counter"]
    else:
        state = counter.state_dict() if counter is not None else {}
    return {key: int(state.get(key, 0)) for key in ("epoch", "update", "sample")}


class CheckpointWriter:
    """Writes and reads the checkpoints of one run (files on rank 0 only).

    Args:
        path_provider: the run whose `checkpoint_dir` receives the checkpoints.
        update_counter: where training stands (for the manifest of checkpoints saved
            without trainer state).
    """

    def __init__(
        self, path_provider: PathProvider, update_counter: UpdateCounter | None = None
    ) -> None:
        self.path_provider = path_provider
        self.update_counter = update_counter
        self._held: list[Callable[[], None]] | None = None
        self._held_saves: list[tuple[str, frozenset[str], dict[str, frozenset[str]]]] = []
        self._recovered = False
        self._claims: dict[str, set[str]] = {}

    @property
    def checkpoint_dir(self) -> Path:
        return self.path_provider.checkpoint_dir

    # ------------------------------------------------------------------ holding
    def hold(self) -> None:
        """From now on, writes wait until `release` (the loop holds them during an update)."""
        self._held = []
        self._held_saves = []

    @property
    def has_held_writes(self) -> bool:
        """Whether writes wait for `release` (the same on every rank: all ranks ask for all)."""
        return bool(self._held)

    def release(self) -> None:
        """Makes the held writes, in the order they were asked for."""
        held, self._held = self._held, None
        for write in held or ():
            write()

    def discard(self) -> None:
        """Drops the held writes (after an error: the state between updates was not reached)."""
        if self._held:
            logger.warning("%d checkpoint write(s) of this update dropped", len(self._held))
        self._held = None

    def _do(self, write: Callable[[], None]) -> None:
        if self._held is not None:
            self._held.append(write)
        else:
            write()

    # ------------------------------------------------------------------ writing
    def save(
        self,
        model: nn.Module,
        trainer: TrainerLike | None,
        tag: str,
        save_weights: bool = True,
        save_optim: bool = True,
        save_trainer: bool = True,
        also_as: Mapping[str, Collection[str]] | None = None,
    ) -> Path:
        """Writes the checkpoint `checkpoint_dir/<tag>/` with the files asked for.

        Every rank must call it (the trainer state gathers every rank's RNG state); rank 0
        writes, and all ranks wait until it has.

        Args:
            also_as: other tags (`latest`) to publish it as right after, each with the files
                it holds there, by hard links: one write instead of two, and its manifest
                lists them, so that a resume from it publishes any that a stop cut off.

        Returns:
            The checkpoint folder (written by now, or at the end of the update when held).
        """
        if self._held_already(tag, save_weights, save_optim, save_trainer, also_as or {}):
            return self.checkpoint_dir / tag
        self._do(
            functools.partial(
                self._write,
                model,
                trainer,
                tag,
                save_weights,
                save_optim,
                save_trainer,
                dict(also_as or {}),
            )
        )
        return self.checkpoint_dir / tag

    def _held_already(
        self,
        tag: str,
        save_weights: bool,
        save_optim: bool,
        save_trainer: bool,
        also_as: Mapping[str, Collection[str]],
    ) -> bool:
        """Whether a write held in this update already makes this one: held writes all take
        the state between the same two updates, so a second one of the same tag with no file
        more (a stopper's final checkpoint after the checkpoint callback's) is only a repeat;
        records this one otherwise."""
        if self._held is None:
            return False
        flags = ((MODEL_FILE, save_weights), (OPTIM_FILE, save_optim), (TRAINER_FILE, save_trainer))
        files = frozenset(name for name, wanted in flags if wanted)
        aliases = {alias: frozenset(held) for alias, held in also_as.items()}
        repeat = any(
            held_tag == tag
            and files <= held_files
            and all(held <= held_aliases.get(alias, frozenset()) for alias, held in aliases.items())
            for held_tag, held_files, held_aliases in self._held_saves
        )
        if not repeat:
            self._held_saves.append((tag, files, aliases))
        return repeat

    def save_error(self, model: nn.Module, trainer: TrainerLike, log: logging.Logger) -> None:
        """After a callback failed: the state as it is, as `error_<position>`; the update's
        own held writes are dropped (the state between updates was not reached).

        Not with several processes: a callback may fail on one rank only, and a checkpoint
        waits for all ranks, which are then in the next update (the run would hang). A write
        that fails is only noted on `log`: the callback's error is what the run reports.
        """
        if get_world_size() > 1:
            log.warning(
                "no error checkpoint: with several processes it would wait for ranks that may "
                "not have failed"
            )
            return
        self.discard()
        if self.update_counter is None:
            log.warning("no error checkpoint: this writer has no update counter to name it by")
            return
        tag = f"{folders.ERROR_TAG_PREFIX}{self.update_counter.tag}"
        try:
            self.save(model, trainer, tag=tag)
        except Exception as exc:
            name = type(exc).__name__
            log.error("could not write the error checkpoint %s: %s: %s", tag, name, exc)
            details_logger.error("traceback of the error above", exc_info=exc)

    def save_latest(
        self,
        model: nn.Module,
        trainer: TrainerLike | None,
        save_weights: bool = True,
        save_optim: bool = True,
        save_trainer: bool = True,
    ) -> Path:
        """`save` under the tag `latest`, replaced (atomically) each time."""
        return self.save(model, trainer, LATEST_TAG, save_weights, save_optim, save_trainer)

    def save_object(self, obj: Any, tag: str, filename: str) -> Path:
        """Writes one more file into a checkpoint folder (e.g. EMA weights), atomically."""
        path = self.checkpoint_dir / tag / filename
        self._do(functools.partial(self._write_object, obj, path))
        return path

    def claim(self, tag: str, owner: str) -> None:
        """Records that `owner` (a callback's state key) keeps checkpoint `tag`, so that
        another owner's pruning leaves it (two checkpoint callbacks may write the same tag)."""
        self._claims.setdefault(tag, set()).add(owner)

    def remove(self, tag: str, owner: str | None = None) -> None:
        """Deletes checkpoint `tag` with every file in it, EMA weights included (files on
        rank 0); with `owner`, only once no other owner claims the tag."""
        if owner is not None:
            owners = self._claims.get(tag, set())
            owners.discard(owner)
            if owners:
                logger.info("kept checkpoint %s: %s keeps it", tag, ", ".join(sorted(owners)))
                return
            self._claims.pop(tag, None)
        self._do(functools.partial(self._remove, tag))

    def remove_older_signal_checkpoints(self, newest: str) -> list[str]:
        """Deletes the signal checkpoints before the signal checkpoint `newest` (see
        `signal_checkpoints`; files on rank 0).

        Returns:
            The tags deleted (on rank 0; empty on other ranks).
        """
        newest_info = folders.find(self.checkpoint_dir, newest) if is_rank0() else None
        if newest_info is None:
            return []
        return remove_signal_checkpoints_before(self.checkpoint_dir, newest_info)

    def _retire_signal_checkpoints(self, target: Path) -> None:
        """After the checkpoint at `target`, not a signal's: a `latest` published by an
        earlier signal checkpoint is no longer the newest, and, when `target` is
        resumable, the earlier signal checkpoints serve nothing (see `signal_checkpoints`)."""
        newer = folders.read_manifest(target)
        if newer is None or newer.is_error or newer.tag.startswith(SIGNAL_TAG_PREFIXES):
            return  # an error checkpoint is read only when asked for by name
        stale = superseded_latest(self.checkpoint_dir, newer)
        if stale is not None:
            logger.info("%s no longer holds %s: %s is newer", LATEST_TAG, stale, newer.tag)
        if newer.resumable:
            for tag in remove_signal_checkpoints_before(self.checkpoint_dir, newer):
                logger.info("deleted signal checkpoint %s: %s is newer", tag, newer.tag)

    def _prepare(self) -> None:
        if not self._recovered:
            folders.recover(self.checkpoint_dir)
            self._recovered = True

    def _write(
        self,
        model: nn.Module,
        trainer: TrainerLike | None,
        tag: str,
        save_weights: bool,
        save_optim: bool,
        save_trainer: bool,
        also_as: Mapping[str, Collection[str]],
    ) -> None:
        model = unwrap_model(model)
        trainer_state = trainer.state_dict() if save_trainer and trainer is not None else None
        if is_rank0():
            self._prepare()
            optimizer = getattr(model, "optimizer", None)
            parts: list[tuple[str, Any]] = []
            if save_weights:
                parts.append((MODEL_FILE, model.state_dict()))
            if save_optim and optimizer is not None:
                parts.append((OPTIM_FILE, optimizer.state_dict()))
            if trainer_state is not None:
                check_storable(trainer_state, "trainer state")
                parts.append((TRAINER_FILE, trainer_state))
            staging = folders.new_staging_folder(self.checkpoint_dir, tag)
            position = _position(self.update_counter, trainer_state)
            target = self.checkpoint_dir / tag
            try:
                for name, state in parts:
                    save_file(state, staging / name)
                aliases = {**folders.keep_same_position(target, staging, position), **also_as}
                folders.write_manifest(
                    staging, tag, position, self._config_text(), get_world_size(), aliases
                )
            except OSError as exc:
                # a full disk: the staging folder goes at once, and the error names the
                # checkpoint's file (the staging folder is a detail)
                shutil.rmtree(staging, ignore_errors=True)
                if exc.errno is None or exc.filename is None:
                    raise
                name = Path(exc.filename).name
                raise OSError(exc.errno, exc.strerror, str(target / name)) from exc
            folders.publish(staging, target)
            logger.info("saved checkpoint %s", target)
            for alias, files in also_as.items():
                folders.publish_alias(target, alias, files)
            self._retire_signal_checkpoints(target)
        barrier()

    def _remove(self, tag: str) -> None:
        """Pruning that the filesystem refuses (an immutable folder) is said; the run goes on."""
        if not is_rank0():
            return
        try:
            folders.remove(self.checkpoint_dir, tag)
        except OSError as error:
            logger.warning(
                "could not delete checkpoint %s (%s): it stays; delete it by hand",
                self.checkpoint_dir / tag,
                error.strerror or error,
            )

    def _write_object(self, obj: Any, path: Path) -> None:
        if is_rank0():
            self._prepare()
            save_file(obj, path)

    def _config_text(self) -> str | None:
        try:
            return self.path_provider.config_path.read_text(encoding="utf-8")
        except OSError:
            return None

    # ------------------------------------------------------------------ reading
    @staticmethod
    def load(run_dir: str | os.PathLike[str], tag: str = LATEST_TAG) -> dict[str, Any]:
        """Reads checkpoint `tag` of a run onto the CPU; no code in its files runs.

        Returns:
            `{"model": ..., "optim": ..., "trainer": ...}` with the parts it holds.

        Raises:
            CheckpointError: no such complete checkpoint (names those that exist), or a file
                that is refused.
        """
        checkpoint_dir = run_checkpoint_dir(run_dir)
        info = folders.find(checkpoint_dir, tag)
        if info is None:
            tags = [c.tag for c in folders.list_checkpoints(checkpoint_dir)]
            state = "is incomplete" if (checkpoint_dir / tag).exists() else "does not exist"
            raise CheckpointNotFoundError(
                f"checkpoint {tag!r} in {checkpoint_dir} {state} "
                f"(complete checkpoints: {', '.join(tags) or 'none'})"
            )
        result: dict[str, Any] = {}
        for key, name in (("model", MODEL_FILE), ("optim", OPTIM_FILE), ("trainer", TRAINER_FILE)):
            if name in info.files:
                result[key] = load_file(info.path / name)
        return result


__all__ = [
    "LATEST_TAG",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "OPTIM_FILE",
    "SIGNAL_TAG_PREFIXES",
    "TRAINER_FILE",
    "CheckpointError",
    "CheckpointWriter",
    "atomic_save",
    "signal_tag",
    "unwrap_model",
]
