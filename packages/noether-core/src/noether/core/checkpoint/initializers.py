"""Initializers: resume a run exactly, or load weights from a checkpoint to fine-tune.

The trainer calls, in this order and after `model.initialize(...)` built the optimizer and the
callbacks exist: `init_weights(model)`, `init_optimizer(model)`, `init_trainer(trainer)`
(or `apply(model, trainer)` for all three). Initializers that do not restore a part do nothing
for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml
from torch import Tensor, nn
from torch.nn.parameter import is_lazy

from noether.config.schemas.initializer import (
    InitializerConfig,
    ResumeInitializerConfig,
)
from noether.core.checkpoint import folders
from noether.core.checkpoint.folders import CheckpointError, CheckpointNotFoundError
from noether.core.checkpoint.optim_state import (
    OptimizerStateMismatch,
    align_by_name,
    check_state_shapes,
    keep_configured_hyperparameters,
    warn_if_lr_changed,
)
from noether.core.checkpoint.writer import CheckpointWriter, TrainerLike, unwrap_model
from noether.core.distributed import is_rank0
from noether.core.models.base import ModelBase
from noether.core.runs import PathProvider, find_run_dir, run_checkpoint_dir

logger = logging.getLogger(__name__)


class InitializerError(Exception):
    """A checkpoint that cannot initialise this model or run."""


class TrainerStateLike(TrainerLike, Protocol):
    """The part of BaseTrainer that resuming restores."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None: ...


class InitializerBase:
    """Common interface of initializers.

    Args:
        config: the initializer's schema.
        path_provider: the current run (to look up run ids next to it).
    """

    def __init__(self, config: InitializerConfig, path_provider: PathProvider | None = None):
        self.config = config
        self.path_provider = path_provider
        self.applying = False
        """True from the start of `apply` until it returns: still True after it raised, so
        that a failure report can say that applying this initializer failed (the trainer's
        counters are not restored yet, so its position would say update 0)."""

    def describe(self) -> str:
        """What applying it does, for messages (e.g. "resuming ... from checkpoint ...")."""
        return f"initializing from {self.config.kind}"

    def init_weights(self, model: nn.Module) -> None:
        """Loads model weights."""

    def init_optimizer(self, model: nn.Module) -> None:
        """Loads the optimizer state of an initialised model."""

    def init_trainer(self, trainer: TrainerStateLike) -> None:
        """Restores counters, scaler, callbacks and RNG states."""

    def prepare(self, model: nn.Module | None = None) -> None:
        """Reads what it will restore and checks that it fits `model` (built, not yet
        initialised), so that a checkpoint that cannot be read or restored fails before the
        run changes anything (the tracker's files, the run folder); nothing here."""

    def apply(self, model: nn.Module, trainer: TrainerStateLike | None = None) -> None:
        """All of the above, in order."""
        self.applying = True
        self.init_weights(model)
        self.init_optimizer(model)
        if trainer is not None:
            self.init_trainer(trainer)
        self.applying = False


def retire_later_checkpoints(checkpoint_dir: Path, position: int) -> None:
    """Deletes the resumable checkpoints past update `position`, saying so."""
    for info in folders.later_resumable(checkpoint_dir, position):
        logger.warning(
            "deleting checkpoint %s (update %d): it is past the resumed position",
            info.tag,
            info.update,
        )
        folders.remove(checkpoint_dir, info.tag)


def finish_interrupted_checkpoints(checkpoint_dir: Path, tag: str) -> None:
    """Finishes what the stop of a run cut off before it continues from checkpoint `tag` (or
    ends there), saying so: see `folders.finish_interrupted`."""
    for alias in folders.finish_interrupted(checkpoint_dir, tag):
        logger.info(
            "published checkpoint %s as %s: the run stopped after writing it, before that",
            tag,
            alias,
        )


class ResumeInitializer(InitializerBase):
    """Continues a run from one of its checkpoints: weights, optimizer and trainer, exactly.

    The earlier run is found by folder path or by run id under the current run's
    `<output_path>/<name>`; the checkpoint's files are read once and shared by the three steps.
    """

    config: ResumeInitializerConfig

    def __init__(self, config: ResumeInitializerConfig, path_provider: PathProvider | None = None):
        super().__init__(config, path_provider)
        if path_provider is not None:
            output_path, name = path_provider.output_path, path_provider.name
        else:
            output_path, name = Path("."), ""
        self.run_dir = find_run_dir(output_path, name, config.run)
        self.tag = (
            config.checkpoint
            or folders.require_newest_resumable(run_checkpoint_dir(self.run_dir), self.run_dir).tag
        )
        self.in_place = (
            path_provider is not None and self.run_dir.resolve() == path_provider.run_dir.resolve()
        )
        """Continues the run in its own folder (`noether-train --resume`)."""
        self._state: dict[str, Any] | None = None
        self._stored_lrs: list[float] = []
        """The lr of every group that the checkpoint's run had set for its next update."""

    @property
    def state(self) -> dict[str, Any]:
        """The checkpoint's contents (`model`, `optim`, `trainer`), loaded on first use."""
        if self._state is None:
            try:
                self._state = CheckpointWriter.load(self.run_dir, self.tag)
            except CheckpointNotFoundError:
                raise
            except CheckpointError as error:  # a damaged file: say what else there is
                raise CheckpointError(f"{error}; {self._others()}") from None
        return self._state

    def _others(self) -> str:
        """The other checkpoints a resume could continue from, as advice: not those of the
        same update, which may share the damaged file (`latest` is linked to it)."""
        checkpoint_dir = run_checkpoint_dir(self.run_dir)
        damaged = folders.find(checkpoint_dir, self.tag)
        tags = [
            info.tag
            for info in folders.list_checkpoints(checkpoint_dir)
            if info.resumable and (damaged is None or info.update != damaged.update)
        ]
        if not tags:
            return "restore it from a copy (no other checkpoint of the run can be resumed)"
        return (
            "restore it from a copy, or continue from another checkpoint (noether-train "
            f"--resume RUN_DIR --checkpoint TAG): {', '.join(tags)}"
        )

    def describe(self) -> str:
        info = folders.find(run_checkpoint_dir(self.run_dir), self.tag)
        at = "" if info is None else f" (update {info.update})"
        return f"resuming {self.run_dir} from checkpoint {self.tag!r}{at}"

    def prepare(self, model: nn.Module | None = None) -> None:
        """Reads the checkpoint's files now (kept until `apply`) and checks that its weights
        fit `model`: a forced model change that cannot continue (another layer size) then
        fails before the resume rewrites the run's config.yaml and tracker files."""
        _ = self.state
        if model is None:
            return
        mismatches = weight_mismatches(self._part("model", "model weights"), model)
        if mismatches:
            raise self._not_fitting("; ".join(mismatches))

    def _not_fitting(self, detail: str) -> InitializerError:
        """The error of weights that do not fit the model (found before or while loading)."""
        return InitializerError(
            f"checkpoint {self.tag!r} of {self.run_dir} does not fit this model (was the model "
            f"changed?): {detail}"
        )

    def _part(self, key: str, what: str) -> Any:
        if key not in self.state:
            raise InitializerError(
                f"checkpoint {self.tag!r} of {self.run_dir} holds no {what}, so the run cannot "
                "be resumed exactly (save it with the optimizer/trainer state)"
            )
        return self.state[key]

    def init_weights(self, model: nn.Module) -> None:
        try:
            unwrap_model(model).load_state_dict(self._part("model", "model weights"))
        except RuntimeError as error:
            raise self._not_fitting(str(error).splitlines()[0]) from None
        logger.info("resumed weights from %s (checkpoint %s)", self.run_dir, self.tag)

    def init_optimizer(self, model: nn.Module) -> None:
        model = unwrap_model(model)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            logger.info("model has no optimizer: no optimizer state to resume")
            return
        configured = [
            {key: value for key, value in group.items() if key != "params"}
            for group in optimizer.param_groups
        ]
        stored = self._part("optim", "optimizer state")
        self._stored_lrs = [float(group["lr"]) for group in stored.get("param_groups", [])]
        stored_kind, kind = self._stored_optimizer_kind(), _optimizer_kind(model)
        if stored_kind is not None and kind is not None and stored_kind != kind:
            # another optimizer's moments mean nothing to this one (Adam reads a `step` that
            # SGD never stored); the change itself was forced past the resume check
            logger.warning(
                "the optimizer changed since checkpoint %s (%s -> %s): its state is not "
                "carried over, the %s optimizer starts afresh",
                self.tag,
                stored_kind,
                kind,
                kind,
            )
            return
        stored = align_by_name(stored, optimizer)
        try:
            check_state_shapes(stored, optimizer, self.state.get("model"))
        except OptimizerStateMismatch as error:
            raise InitializerError(
                f"checkpoint {self.tag!r} of {self.run_dir}: {error} (was the model changed?); "
                "start from the weights only with trainer.initializer: {kind: checkpoint, path: "
                f"{run_checkpoint_dir(self.run_dir) / self.tag}}}"
            ) from None
        try:
            optimizer.load_state_dict(stored)
        except ValueError as error:
            raise InitializerError(
                f"checkpoint {self.tag!r} of {self.run_dir}: its optimizer state does not fit "
                f"this config's parameter groups ({error}); weight_decay, "
                "exclude_bias_and_norm_from_wd or lr_scale regroup the parameters. Keep them, or "
                "start from the weights only with trainer.initializer: {kind: checkpoint, path: "
                f"{run_checkpoint_dir(self.run_dir) / self.tag}}}"
            ) from None
        keep_configured_hyperparameters(optimizer, configured)

    def _stored_optimizer_kind(self) -> str | None:
        """`model.optimizer.kind` of the config the checkpoint was written with (None when
        its manifest holds no config)."""
        info = folders.find(run_checkpoint_dir(self.run_dir), self.tag)
        if info is None or info.config_yaml is None:
            return None
        kind = _lookup(yaml.safe_load(info.config_yaml), "model", "optimizer", "kind")
        return kind if isinstance(kind, str) else None

    def apply(self, model: nn.Module, trainer: TrainerStateLike | None = None) -> None:
        """Checks that the checkpoint continues this run's data, then restores everything.

        In the run's own folder, the checkpoints past the restored position are then deleted
        (rank 0): they belong to the abandoned continuation, and a later `--resume` would
        pick one of them. Only then: a checkpoint that fails to load leaves them all. What
        the run's stop cut off is finished then too (`finish_interrupted_checkpoints`)."""
        try:
            if trainer is not None:
                self.applying = True
                stored = self._part("trainer", "trainer state").get("data", {})
                self._check_data_layout(stored, trainer)
            super().apply(model, trainer)
        finally:
            self._state = None  # restored: not held in memory for the whole run
        counter = getattr(trainer, "update_counter", None)
        if counter is not None:
            warn_if_lr_changed(model, self._stored_lrs, counter.update, counter.total_updates)
        if self.in_place and counter is not None and is_rank0():
            checkpoint_dir = run_checkpoint_dir(self.run_dir)
            retire_later_checkpoints(checkpoint_dir, counter.update)
            finish_interrupted_checkpoints(checkpoint_dir, self.tag)

    def init_trainer(self, trainer: TrainerStateLike) -> None:
        state = self._part("trainer", "trainer state")
        trainer.load_state_dict(state)
        counter = getattr(trainer, "update_counter", None)
        if counter is None:
            return
        if counter.update // counter.updates_per_epoch != counter.epoch:
            # a position over other data (forced): the update count stays, epochs are recounted
            counter.epoch = counter.update // counter.updates_per_epoch
        # the position only where the tag does not say it (latest, sigterm_*, best_*, recounted)
        at = "" if counter.tag == self.tag else f" at {counter.tag}"
        logger.info("resumed run %s from checkpoint %s%s", self.run_dir, self.tag, at)

    def _check_data_layout(self, stored: dict[str, int], trainer: TrainerStateLike) -> None:
        """A position means the same only over the same data: refused (or, forced, warned)."""
        layout = getattr(trainer, "data_layout", None)
        if layout is None:
            return
        now = layout()
        changed = [
            f"{key}: {stored[key]} -> {now[key]}"
            for key in ("train_length", "updates_per_epoch", "effective_batch_size")
            if key in stored and stored[key] != now[key]
        ]
        if not changed:
            return
        message = (
            f"checkpoint {self.tag!r} of {self.run_dir} was written with other data or batch "
            f"sizes ({'; '.join(changed)}), so its position does not continue the same epochs"
        )
        if not self.config.force:
            raise InitializerError(message + "; resume with force to accept this")
        logger.warning("%s; resuming anyway (force)", message)


def weight_mismatches(
    stored: Mapping[str, Any], model: nn.Module, strict: bool = True, shown: int = 3
) -> list[str]:
    """What keeps `stored` weights from loading into `model` (as `load_state_dict` would
    refuse it: with `strict`, keys on one side only too), at most `shown` entries and a count
    of the rest; [] when they fit. Lazy parameters (no shape yet) are not compared."""
    expected = unwrap_model(model).state_dict()
    found = []
    if strict:
        found += [f"{key} missing" for key in expected if key not in stored]
        found += [f"{key} unexpected" for key in stored if key not in expected]
    for key, value in expected.items():
        old = stored.get(key)
        if isinstance(old, Tensor) and not is_lazy(value) and old.shape != value.shape:
            found.append(f"{key}: shape {tuple(old.shape)} stored, {tuple(value.shape)} now")
    if len(found) > shown:
        found = [*found[:shown], f"{len(found) - shown} more"]
    return found


def _optimizer_kind(model: nn.Module) -> str | None:
    """The optimizer kind of the model's config (None for a model without one)."""
    if not isinstance(model, ModelBase) or model.model_config.optimizer is None:
        return None
    return model.model_config.optimizer.kind


def _lookup(tree: Any, *keys: str) -> Any:
    """`tree[k1][k2]...` of a loaded YAML document, None where a level is missing."""
    for key in keys:
        if not isinstance(tree, Mapping):
            return None
        tree = tree.get(key)
    return tree


def build_initializer(
    config: InitializerConfig | None, path_provider: PathProvider | None
) -> InitializerBase | None:
    """The initializer of `config` (its kind's target), or None without one."""
    if config is None:
        return None
    from noether.core.build import build_component

    initializer: InitializerBase = build_component(config, path_provider=path_provider)
    return initializer


def __getattr__(name: str) -> Any:
    """`CheckpointInitializer` lived here until 0.2 (now in `weights_initializer`): code that
    imports it from here still finds it."""
    if name == "CheckpointInitializer":
        from noether.core.checkpoint.weights_initializer import CheckpointInitializer

        return CheckpointInitializer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
