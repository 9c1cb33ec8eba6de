"""The `checkpoint` kind: periodic checkpoints, a rolling latest copy, and keep-last-k."""

from __future__ import annotations

from typing import Any

from noether.callbacks.kept_tags import KeptTags
from noether.config.schemas.callbacks import CheckpointCallbackConfig
from noether.core.callbacks.base import CallbackContext, PeriodicCallback
from noether.core.checkpoint.folders import MODEL_FILE, OPTIM_FILE, TRAINER_FILE
from noether.core.checkpoint.writer import LATEST_TAG


class CheckpointCallback(PeriodicCallback):
    """Writes `checkpoint_dir/<tag>/` every n epochs / updates / samples.

    With `keep_last: k`, only this callback's newest k tagged checkpoints stay on disk, each
    deleted with the EMA weights written next to it; a tag that another callback also keeps
    stays while that one keeps it (see `KeptTags`, which also makes the rule hold across a
    resume).
    """

    def __init__(self, callback_config: CheckpointCallbackConfig, context: CallbackContext) -> None:
        super().__init__(callback_config, context)
        self.checkpoint_config = callback_config
        self.kept = KeptTags(callback_config.keep_last, self.logger)

    def periodic_callback(self) -> None:
        """Saves the checkpoint(s) that are due and prunes old ones."""
        cfg = self.checkpoint_config
        model, trainer, writer = self.model, self.trainer, self.checkpoint_writer
        tagged = _files(cfg.save_weights, cfg.save_optim)
        latest = _files(cfg.save_latest_weights, cfg.save_latest_optim)
        # `latest` as links of the tagged checkpoint when that holds its files: written once,
        # and a resume from the checkpoint publishes a `latest` that a stop cut off
        linked = bool(latest) and latest <= tagged
        if tagged:
            tag = self.update_counter.tag
            stale = self.kept.add(tag, writer, self.state_key)
            writer.save(
                model,
                trainer,
                tag,
                save_weights=True,
                save_optim=cfg.save_optim,
                save_trainer=cfg.save_optim,
                also_as={LATEST_TAG: latest} if linked else None,
            )
            self.kept.delete(stale, writer, self.state_key)
        if latest and not linked:
            writer.save_latest(
                model,
                trainer,
                save_weights=True,
                save_optim=cfg.save_latest_optim,
                save_trainer=cfg.save_latest_optim,
            )

    def state_dict(self) -> dict[str, Any]:
        """The tags written so far and those being deleted (to prune after a resume)."""
        return self.kept.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.kept.load_state_dict(state_dict, self.context.checkpoint_writer, self.state_key)

    def before_training(self) -> None:
        self.kept.delete_left_behind(self.context.checkpoint_writer, self.state_key)


def _files(save_weights: bool, save_optim: bool) -> set[str]:
    """The files of a checkpoint with these settings: optimizer and trainer state go with the
    weights they belong to (resumable)."""
    if save_optim:
        return {MODEL_FILE, OPTIM_FILE, TRAINER_FILE}
    return {MODEL_FILE} if save_weights else set()


def save_final_checkpoint(context: CallbackContext) -> None:
    """Weights, optimizer and trainer state at the current counters (before an early stop);
    nothing without a run folder."""
    if context.checkpoint_writer is None or context.model is None:
        return
    context.checkpoint_writer.save(
        context.model,
        context.trainer,
        context.update_counter.tag,
        save_weights=True,
        save_optim=True,
        save_trainer=True,
    )
