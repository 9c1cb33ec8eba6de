"""The checkpoints a stop signal writes (`sigterm_<position>`, also published as `latest`),
and what a newer checkpoint makes of them.

A signal checkpoint exists so that the run can be resumed. Once a newer resumable checkpoint
is on disk it serves nothing, and a job requeued at every time limit would otherwise keep
one per requeue; the `latest` it published would go on naming its older weights next to the
newer checkpoints (`load_model(run, checkpoint="latest")`), unlike the `latest` of a run that
was never stopped, which is absent or replaced by its own checkpoint callback.
"""

from __future__ import annotations

from pathlib import Path

from noether.core.checkpoint import folders
from noether.core.checkpoint.folders import LATEST_TAG, UNIT_FILES, CheckpointInfo


def signal_tag(signal_name: str, position: str) -> str:
    """The tag of the checkpoint a stop signal writes: `sigterm_<position>`."""
    return f"{signal_name.lower()}_{position}"


SIGNAL_TAG_PREFIXES = tuple(signal_tag(name, "") for name in ("SIGTERM", "SIGINT"))
"""How the tags of signal checkpoints begin."""


def remove_signal_checkpoints_before(checkpoint_dir: Path, newer: CheckpointInfo) -> list[str]:
    """Deletes the signal checkpoints up to `newer`'s update, but `newer` (files on rank 0);
    checkpoints past it are left alone (a resume from an earlier one deletes those).

    Returns:
        The tags deleted.
    """
    # called after every checkpoint write: only the manifests of signal checkpoints are read
    tags = [
        path.name
        for path in (checkpoint_dir.iterdir() if checkpoint_dir.is_dir() else ())
        if path.name.startswith(SIGNAL_TAG_PREFIXES) and path.name != newer.tag
    ]
    found = [folders.find(checkpoint_dir, tag) for tag in sorted(tags)]
    older = [info.tag for info in found if info is not None and info.update <= newer.update]
    for tag in older:
        folders.remove(checkpoint_dir, tag)
    return older


def superseded_latest(checkpoint_dir: Path, newer: CheckpointInfo) -> str | None:
    """When `latest` holds a signal checkpoint from before `newer`: its checkpoint files go
    (what other callbacks keep there, EMA weights, stays), and the signal's tag is returned."""
    folder = checkpoint_dir / LATEST_TAG
    info = folders.read_manifest(folder)
    if info is None or not info.tag.startswith(SIGNAL_TAG_PREFIXES) or info.update >= newer.update:
        return None
    if all(path.name in UNIT_FILES for path in folder.iterdir()):
        folders.remove(checkpoint_dir, LATEST_TAG)
    else:  # a folder without them, published like a write (`publish` carries the others)
        folders.publish(folders.new_staging_folder(checkpoint_dir, LATEST_TAG), folder)
    return info.tag
