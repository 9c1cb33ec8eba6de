"""Continuing a run: which checkpoint, whether the config still fits it, what the folder keeps.

`noether-train --resume RUN_DIR` and configs with `trainer.initializer: {kind: resume}` both
come here before anything is built, so a refused change costs no GPU time.
"""

from __future__ import annotations

import logging
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from noether.core.checkpoint import folders
from noether.core.checkpoint.compat import ConfigChange, compare_configs
from noether.core.checkpoint.folders import CheckpointInfo, CheckpointNotFoundError
from noether.core.checkpoint.initializers import InitializerError
from noether.core.counters import named_update
from noether.core.launch import detect
from noether.core.runs import run_checkpoint_dir, run_config_path

logger = logging.getLogger(__name__)


WORLD_SIZE_KEY = "world size (processes)"
"""How a change of the number of ranks is named among the config changes."""


class ResumeRefusedError(InitializerError):
    """The config changed in ways that break an exact resume (and force was not given)."""


@dataclass(frozen=True)
class ResumePlan:
    """A checkpoint to continue from, checked against the config to continue with."""

    run_dir: Path
    checkpoint: CheckpointInfo | None
    """None: the run wrote no checkpoint before it stopped, so it starts again in its folder."""
    changes: list[ConfigChange] = field(default_factory=list)
    """Changes that keep the resume exact (logged)."""
    forced: list[ConfigChange] = field(default_factory=list)
    """Changes that break exactness, accepted with force (warned about)."""
    tag: str | None = None
    """The checkpoint asked for (`--checkpoint`); None: the newest resumable one."""
    force: bool = False
    """`--force`: changes that break exactness are accepted (also by the initializer)."""


def find_checkpoint(run_dir: Path, tag: str | None) -> CheckpointInfo:
    """Checkpoint `tag` of a run, or (None) its newest resumable one.

    Raises:
        CheckpointNotFoundError: no such complete checkpoint; names those that exist.
        ResumeRefusedError: `tag` holds weights only.
    """
    checkpoint_dir = run_checkpoint_dir(run_dir)
    if tag is None:
        return folders.require_newest_resumable(checkpoint_dir, run_dir)
    info = folders.find(checkpoint_dir, tag)
    if info is None:
        tags = [c.tag for c in folders.list_checkpoints(checkpoint_dir)]
        raise CheckpointNotFoundError(
            f"{run_dir} has no complete checkpoint {tag!r} (complete: {', '.join(tags) or 'none'})"
        )
    if not info.resumable:  # refused here, so a dry run says it before anything is built
        resumable = [c.tag for c in folders.list_checkpoints(checkpoint_dir) if c.resumable]
        raise ResumeRefusedError(
            f"cannot resume {run_dir} from checkpoint {tag!r}: it holds {', '.join(info.files)} "
            "without the optimizer and trainer state that resume needs (resumable: "
            f"{', '.join(resumable) or 'none'}); to start a new run from its weights use "
            f"trainer.initializer: {{kind: checkpoint, path: {info.path / folders.MODEL_FILE}}}"
        )
    return info


def stored_config(run_dir: Path, checkpoint: CheckpointInfo | None) -> dict[str, Any]:
    """The config the checkpoint was written with (else, or without one, the run's
    config.yaml)."""
    text = checkpoint.config_yaml if checkpoint is not None else None
    if text is None:
        text = run_config_path(run_dir).read_text(encoding="utf-8")
    loaded = yaml.safe_load(text)
    return loaded if isinstance(loaded, dict) else {}


def plan_resume(
    run_dir: Path,
    tag: str | None,
    config: dict[str, Any],
    force: bool,
    world_size: int | None = None,
) -> ResumePlan:
    """Finds the checkpoint and compares its config with `config` (the resolved new one), and
    the number of processes that wrote it with `world_size` (default: this launch's): on
    other ranks, the run draws other random numbers and sums its gradients in another order.

    Without `tag`, a run that wrote no checkpoint gets a plan without one (it starts again
    in its folder).

    Raises:
        CheckpointNotFoundError: no such checkpoint.
        ResumeRefusedError: a change that breaks exactness, without force; lists each key
            with its old and new value. Or the run's checkpoints hold weights only, or
            (without `tag`) one of its checkpoint folders is damaged.
    """
    if tag is None:
        _refuse_damaged(run_dir)
        if folders.newest_resumable(run_checkpoint_dir(run_dir)) is None:
            _refuse_without_resumable(run_dir)
            return ResumePlan(run_dir, None, tag=tag)  # stopped before its first checkpoint
    checkpoint = find_checkpoint(run_dir, tag)
    breaking, other = compare_configs(stored_config(run_dir, checkpoint), config)
    ranks = detect().world_size if world_size is None else world_size
    if checkpoint.world_size is not None and checkpoint.world_size != ranks:
        breaking.append(ConfigChange(WORLD_SIZE_KEY, checkpoint.world_size, ranks))
    if breaking and not force:
        listing = "\n".join(f"  {change}" for change in breaking)
        raise ResumeRefusedError(
            f"cannot resume {run_dir} from checkpoint {checkpoint.tag!r}: these changes would "
            f"make the run differ from the uninterrupted one:\n{listing}\n"
            "undo them, or resume with --force (trainer.initializer.force) to accept them"
        )
    return ResumePlan(run_dir, checkpoint, changes=other, forced=breaking, tag=tag, force=force)


def check_plan_current(plan: ResumePlan) -> None:
    """Checks, once the run folder is locked, that `plan` still names the checkpoint that it
    would name now.

    A plan is made before the folder is locked (a refused change costs no GPU time). A
    process that still trained there then (a requeued job's predecessor writing its SIGTERM
    checkpoint) may have written newer checkpoints since: continuing from the planned one
    would delete them as checkpoints past the resumed position.

    Raises:
        ResumeRefusedError: the checkpoints changed; names the planned and the current one.
    """
    checkpoint_dir = run_checkpoint_dir(plan.run_dir)
    if plan.tag is None:
        now = folders.newest_resumable(checkpoint_dir)
    else:
        now = folders.find(checkpoint_dir, plan.tag)

    def describe(info: CheckpointInfo | None) -> str:
        return "no checkpoint" if info is None else f"{info.tag} (update {info.update})"

    if describe(now) != describe(plan.checkpoint):
        raise ResumeRefusedError(
            f"cannot resume {plan.run_dir}: its checkpoints changed while this run started, "
            "so another process was still training there (it was to continue from "
            f"{describe(plan.checkpoint)}, now it would be {describe(now)}); nothing was "
            "changed: run the command again to continue from there"
        )


def _refuse_damaged(run_dir: Path) -> None:
    """Continuing from the newest complete checkpoint (or from the start) would pass over a
    damaged one, and writing the same position again would replace it: refused, so that the
    user decides (checkpoints are written whole, so such a folder is no interrupted write).
    One whose name puts it before the newest complete checkpoint is neither: it is left as
    it is, with a warning."""
    checkpoint_dir = run_checkpoint_dir(run_dir)
    damaged = folders.damaged(checkpoint_dir)
    newest = folders.newest_resumable(checkpoint_dir)
    if newest is not None:
        older = [tag for tag in damaged if named_update(tag) in range(newest.update)]
        for tag in older:
            logger.warning(
                "checkpoints/%s holds checkpoint files without a readable %s (a copy cut "
                "short, or damaged since); left as it is: the run continues from the newer %s",
                tag,
                folders.MANIFEST_FILE,
                newest.tag,
            )
        damaged = [tag for tag in damaged if tag not in older]
    if not damaged:
        return
    if newest is None:
        then = "without it, the run starts again from the beginning"
    else:
        then = f"the newest complete one is {newest.tag}; --checkpoint TAG names another"
    names = ", ".join(f"checkpoints/{tag}" for tag in damaged)
    raise ResumeRefusedError(
        f"cannot resume {run_dir}: {names} holds checkpoint files without a readable "
        f"{folders.MANIFEST_FILE} (a copy cut short, or damaged since), so it is no complete "
        f"checkpoint; nothing was changed. Restore or delete it ({then})"
    )


def _refuse_without_resumable(run_dir: Path) -> None:
    """A run with checkpoints but none that a resume picks is refused: starting it again
    would replace those of its positions that hold weights only (nothing already written is
    lost), and an error checkpoint is read only when it is named. Those tagged by a metric
    (`best_*`) do not hold a restart back: it writes them again, the same."""
    infos = folders.list_checkpoints(run_checkpoint_dir(run_dir))
    errors = [info for info in infos if info.is_error and info.resumable]
    errors.sort(key=operator.attrgetter("update"))
    named = f"--resume {run_dir} --checkpoint {errors[-1].tag}" if errors else ""
    weights_only = [info.tag for info in infos if info.names_its_position]
    if weights_only:
        also = f" (or continue from where it failed: {named})" if named else ""
        raise ResumeRefusedError(
            f"cannot resume {run_dir}: its checkpoints ({', '.join(weights_only)}) hold "
            "weights only, without the optimizer and trainer state that resume needs, and "
            "starting the run again would replace them. Give its checkpoint callback "
            "save_optim: true for resumable checkpoints, or start a new run from these weights "
            "with trainer.initializer: {kind: checkpoint, path: <checkpoint folder>/model.pt}"
            + also
        )
    if errors:
        raise ResumeRefusedError(
            f"cannot resume {run_dir}: its only resumable checkpoints "
            f"({', '.join(info.tag for info in errors)}) were written when a callback failed, "
            "without the callbacks and metrics row of the update that failed, so a resume "
            f"reads one only when it is named: continue from where it failed with {named}, or "
            "start a new run"
        )


def log_plan(plan: ResumePlan) -> None:
    """Says what the run continues from and what changed."""
    checkpoint = plan.checkpoint
    if checkpoint is None:
        logger.warning(
            "%s has no checkpoint to resume from: the run starts again from the beginning",
            plan.run_dir,
        )
        return
    logger.info(
        "resuming %s from checkpoint %s (epoch %d, update %d, sample %d)",
        plan.run_dir,
        checkpoint.tag,
        checkpoint.epoch,
        checkpoint.update,
        checkpoint.sample,
    )
    for change in plan.changes:
        logger.info("changed since the checkpoint: %s", change)
    for change in plan.forced:
        logger.warning("changed since the checkpoint (forced, not exact): %s", change)


def later_checkpoints(plan: ResumePlan) -> list[CheckpointInfo]:
    """The resumable checkpoints past the resumed position (resuming deletes them, once the
    resumed state is restored: `ResumeInitializer.apply`)."""
    position = plan.checkpoint.update if plan.checkpoint is not None else 0
    return folders.later_resumable(run_checkpoint_dir(plan.run_dir), position)
