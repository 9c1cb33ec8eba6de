"""The `checkpoint` kind: periodic checkpoints, a rolling latest copy, and keep-last-k."""

from __future__ import annotations

from typing import Any

from noether.config.schemas.callbacks import CheckpointCallbackConfig
from noether.core.callbacks.base import CallbackContext, PeriodicCallback


class CheckpointCallback(PeriodicCallback):
    """Writes `checkpoint_dir/<tag>/` every n epochs / updates / samples.

    With `keep_last: k`, only this callback's newest k tagged checkpoints stay on disk, each
    deleted with the EMA weights written next to it; a tag that another checkpoint callback
    also wrote stays while that one keeps it. The list of tags it wrote is part of its state,
    so the rule holds across a resume; so are the tags it was deleting when the checkpoint
    was written, which a resume deletes again (a run killed after writing a checkpoint and
    before deleting the one it replaces would otherwise leave that one forever).
    """

    def __init__(self, callback_config: CheckpointCallbackConfig, context: CallbackContext) -> None:
        super().__init__(callback_config, context)
        self.checkpoint_config = callback_config
        self.saved_tags: list[str] = []
        self.pruning: list[str] = []
        """Tags deleted right after this update's checkpoint is written."""
        self._pruned_before: list[str] = []

    def periodic_callback(self) -> None:
        """Saves the checkpoint(s) that are due and prunes old ones."""
        cfg = self.checkpoint_config
        model, trainer = self.model, self.trainer
        if cfg.save_weights or cfg.save_optim:
            tag = self.update_counter.tag
            # Book-keep first, so the trainer state written with this checkpoint already
            # lists it (a resume from it then prunes it in turn).
            if tag not in self.saved_tags:
                self.saved_tags.append(tag)
            self.checkpoint_writer.claim(tag, self.state_key)
            stale = self.pruning = self._split_stale()
            # optimizer and trainer state go with the weights they belong to (resumable)
            self.checkpoint_writer.save(
                model,
                trainer,
                tag,
                save_weights=cfg.save_weights or cfg.save_optim,
                save_optim=cfg.save_optim,
                save_trainer=cfg.save_optim,
            )
            self._delete(stale)
        if cfg.save_latest_weights or cfg.save_latest_optim:
            self.checkpoint_writer.save_latest(
                model,
                trainer,
                save_weights=cfg.save_latest_weights or cfg.save_latest_optim,
                save_optim=cfg.save_latest_optim,
                save_trainer=cfg.save_latest_optim,
            )

    def _split_stale(self) -> list[str]:
        keep = self.checkpoint_config.keep_last
        if keep is None or len(self.saved_tags) <= keep:
            return []
        stale, self.saved_tags = self.saved_tags[:-keep], self.saved_tags[-keep:]
        return stale

    def _delete(self, stale: list[str]) -> None:
        for tag in stale:
            self.checkpoint_writer.remove(tag, owner=self.state_key)

    def state_dict(self) -> dict[str, Any]:
        """The tags written so far and those being deleted (to prune after a resume)."""
        return {"saved_tags": list(self.saved_tags), "pruning": list(self.pruning)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the tags written before the resume (and claims them again, so another
        checkpoint callback's pruning leaves them)."""
        self.saved_tags = list(state_dict["saved_tags"])
        self.pruning = list(state_dict.get("pruning", []))
        self._pruned_before = list(self.pruning)
        writer = self.context.checkpoint_writer
        if writer is not None:
            for tag in self.saved_tags:
                writer.claim(tag, self.state_key)

    def before_training(self) -> None:
        """After a resume: deletes again the checkpoints that were being deleted when the
        resumed one was written (once every callback's state, and claims, are restored)."""
        pruned, self._pruned_before = self._pruned_before, []
        writer = self.context.checkpoint_writer
        if writer is None:
            return
        for tag in pruned:
            if (writer.checkpoint_dir / tag).exists():
                self.logger.info(
                    "deleting checkpoint %s: past keep_last, left behind when the run stopped",
                    tag,
                )
                writer.remove(tag, owner=self.state_key)


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
