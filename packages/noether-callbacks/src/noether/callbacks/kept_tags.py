"""`keep_last` of the callbacks that write tagged folders (`checkpoint`, `ema`): one rule."""

from __future__ import annotations

import logging
from typing import Any

from noether.core.checkpoint.writer import CheckpointWriter


class KeptTags:
    """The tagged folders one callback wrote and keeps: its newest `keep_last` (all of them
    when None).

    Each tag is claimed in the writer, so that another callback's pruning leaves a folder
    this one keeps. The list is part of the callback's state, so the rule holds across a
    resume; so are the tags being deleted when a checkpoint was written, which a resume from
    it deletes again (a run killed after writing a folder and before deleting the one it
    replaces would otherwise leave that one forever).

    Args:
        keep_last: how many of its newest tags the callback keeps (None: every one).
        logger: where deletions after a resume are reported.
    """

    def __init__(self, keep_last: int | None, logger: logging.Logger) -> None:
        self.keep_last = keep_last
        self.logger = logger
        self.tags: list[str] = []
        self.pruning: list[str] = []
        """The tags past keep_last at the last `add`, deleted right after that write."""
        self._pruned_before: list[str] = []

    def add(self, tag: str, writer: CheckpointWriter, owner: str) -> list[str]:
        """Books `tag` before it is written (so the state written with it already lists it)
        and returns the tags past keep_last, to `delete` once it is written."""
        if tag not in self.tags:
            self.tags.append(tag)
        writer.claim(tag, owner)
        keep = self.keep_last
        stale: list[str] = []
        if keep is not None and len(self.tags) > keep:
            stale, self.tags = self.tags[:-keep], self.tags[-keep:]
        self.pruning = stale
        return stale

    @staticmethod
    def delete(stale: list[str], writer: CheckpointWriter, owner: str) -> None:
        """Deletes the folders of `stale` that no other callback keeps."""
        for tag in stale:
            writer.remove(tag, owner=owner)

    def state_dict(self) -> dict[str, Any]:
        """The tags written so far and those being deleted."""
        return {"saved_tags": list(self.tags), "pruning": list(self.pruning)}

    def load_state_dict(
        self, state_dict: dict[str, Any], writer: CheckpointWriter | None, owner: str
    ) -> None:
        """Restores the tags written before the resume and claims them again."""
        self.tags = list(state_dict.get("saved_tags", []))
        self.pruning = list(state_dict.get("pruning", []))
        self._pruned_before = list(self.pruning)
        if writer is not None:
            for tag in self.tags:
                writer.claim(tag, owner)

    def delete_left_behind(self, writer: CheckpointWriter | None, owner: str) -> None:
        """After a resume (once every callback's claims are restored): deletes again the
        folders that were being deleted when the resumed checkpoint was written."""
        pruned, self._pruned_before = self._pruned_before, []
        if writer is None:
            return
        for tag in pruned:
            if (writer.checkpoint_dir / tag).exists():
                self.logger.info(
                    "deleting checkpoint %s: past keep_last, left behind when the run stopped",
                    tag,
                )
                writer.remove(tag, owner=owner)
