"""Checkpoint folders as units: written aside, published by one rename, read only when complete.

A checkpoint is written into a staging folder next to the others (`.staging-<tag>-<id>`); its
files are synced, then `checkpoint.json` (the manifest) is written last, and the folder is
renamed to `<tag>`. A folder named `<tag>` therefore always holds one whole checkpoint. When
`<tag>` exists already (`latest`, `best_*`), it is first renamed aside (`.retired-<tag>-<id>`),
the new folder takes its name, and the old one is deleted. A crash between those two renames
leaves no `<tag>` but two complete folders; `resolve` then reads the newer one, and `recover`
(run by the writer before it writes) puts it in place. A checkpoint is deleted by renaming
it aside first (`.removed-<tag>-<id>`). Any other leftover is deleted.

A checkpoint may be published under other tags as well (`latest`), by hard links of its files
(`publish_alias`; copies where the filesystem has none, see `folder_steps`). Its manifest
lists those aliases, so that a resume from it publishes any that a stop cut off between the
two (`finish_interrupted`).

So a folder `<tag>` that holds checkpoint files without a readable manifest was not left by
an interrupted write or deletion: it was damaged, or copied in part (`damaged`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from noether.core.checkpoint.folder_steps import delete_folder, link_or_copy
from noether.core.counters import position_tag

logger = logging.getLogger(__name__)

MANIFEST_FILE = "checkpoint.json"
MODEL_FILE = "model.pt"
OPTIM_FILE = "optim.pt"
TRAINER_FILE = "trainer.pt"
UNIT_FILES = (MODEL_FILE, OPTIM_FILE, TRAINER_FILE, MANIFEST_FILE)
"""Files that make up a checkpoint; other callbacks may add their own (e.g. EMA weights)."""
EMA_FILE_PREFIX = "model_ema="
"""How the files of EMA weights in a checkpoint folder begin: `model_ema=<factor>.pt`."""
FORMAT_VERSION = 1
LATEST_TAG = "latest"
"""The rolling tag, replaced by each newer checkpoint (often an alias of a named one)."""
ERROR_TAG_PREFIX = "error_"
"""How the tags of checkpoints written when a callback failed begin (`save_error`)."""
_STAGING = ".staging-"
_RETIRED = ".retired-"
_REMOVED = ".removed-"


class CheckpointError(Exception):
    """A checkpoint that is missing, incomplete, or refused when loaded."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No complete checkpoint of that tag."""


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint's manifest says about it."""

    tag: str
    path: Path
    epoch: int
    update: int
    sample: int
    files: tuple[str, ...]
    config_yaml: str | None
    """The run's resolved config when the checkpoint was written (for resume checks)."""
    world_size: int | None = None
    """The number of processes that wrote it (None: a manifest from before it was recorded)."""
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """The other tags it was published as (`latest`), each with the files it holds there."""

    @property
    def position(self) -> dict[str, int]:
        """Where in training it was written, as its manifest says it."""
        return {"epoch": self.epoch, "update": self.update, "sample": self.sample}

    @property
    def resumable(self) -> bool:
        """Whether it holds what an exact resume needs (weights, optimizer, trainer)."""
        return {MODEL_FILE, OPTIM_FILE, TRAINER_FILE} <= set(self.files)

    @property
    def names_its_position(self) -> bool:
        """Tagged by where it was written (`E2_U24_S192`) or `latest`, as checkpoint callbacks
        tag them, rather than by a metric (`best_*`), whose weights a run written again
        from the start writes again."""
        return self.tag in (position_tag(self.epoch, self.update, self.sample), LATEST_TAG)

    @property
    def is_error(self) -> bool:
        """Written when a callback failed: the failed update's callbacks and metrics row are
        not in it, so it is read only when asked for by name (kept for debugging)."""
        return self.tag.startswith(ERROR_TAG_PREFIX)


def ema_file(factor: float) -> str:
    """The weights file of the EMA of one factor inside a checkpoint folder (written by the
    `ema` callback, read by `load_model`)."""
    return f"{EMA_FILE_PREFIX}{factor:g}.pt"


def ema_factors_in(folder: Path) -> list[str]:
    """The factors of the EMA weights files in a checkpoint folder, as written."""
    if not folder.is_dir():
        return []
    names = [p.name for p in folder.iterdir() if p.name.startswith(EMA_FILE_PREFIX)]
    return sorted(n[len(EMA_FILE_PREFIX) : -len(".pt")] for n in names if n.endswith(".pt"))


def fsync_folder(folder: Path) -> None:
    """Makes a folder's entries (new names, renames) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_manifest(
    folder: Path,
    tag: str,
    position: dict[str, int],
    config_yaml: str | None,
    world_size: int = 1,
    aliases: Mapping[str, Collection[str]] | None = None,
) -> None:
    """Writes the manifest last: from then on the folder counts as a complete checkpoint.

    `aliases`: the other tags the checkpoint is published as, each with the files it holds
    there (those the folder lacks are left out)."""
    files = sorted(p.name for p in folder.iterdir() if p.name in UNIT_FILES)
    manifest = {
        "format": FORMAT_VERSION,
        "tag": tag,
        "epoch": position["epoch"],
        "update": position["update"],
        "sample": position["sample"],
        "files": files,
        "config": config_yaml,
        "world_size": world_size,
        "aliases": {
            alias: sorted(set(names) & set(files)) for alias, names in (aliases or {}).items()
        },
    }
    path = folder / MANIFEST_FILE
    try:
        with path.open("w", encoding="utf-8") as file:
            json.dump(manifest, file, indent=1)
            file.flush()
            os.fsync(file.fileno())
    except OSError as exc:  # a full disk: the flush names no file
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    fsync_folder(folder)


def read_manifest(folder: Path) -> CheckpointInfo | None:
    """The checkpoint in `folder`, or None when the folder is not a complete checkpoint."""
    try:
        manifest: dict[str, Any] = json.loads((folder / MANIFEST_FILE).read_text("utf-8"))
        return CheckpointInfo(
            tag=str(manifest["tag"]),
            path=folder,
            epoch=int(manifest["epoch"]),
            update=int(manifest["update"]),
            sample=int(manifest["sample"]),
            files=tuple(str(name) for name in manifest["files"]),
            config_yaml=manifest.get("config"),
            world_size=int(manifest["world_size"]) if "world_size" in manifest else None,
            aliases={
                str(alias): tuple(str(name) for name in names)
                for alias, names in manifest.get("aliases", {}).items()
            },
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def new_staging_folder(checkpoint_dir: Path, tag: str) -> Path:
    """An empty folder in which the checkpoint `tag` is written before it is published.

    Raises:
        CheckpointError: the run folder holding `checkpoint_dir` is gone (deleted or moved
            while the run wrote to it): it is not made again in part, without its config.
    """
    if not checkpoint_dir.parent.is_dir():
        raise CheckpointError(
            f"the run folder {checkpoint_dir.parent} is gone (deleted or moved while the run "
            f"wrote to it): checkpoint {tag} cannot be written"
        )
    checkpoint_dir.mkdir(exist_ok=True)
    folder = checkpoint_dir / f"{_STAGING}{tag}-{secrets.token_hex(4)}"
    folder.mkdir()
    return folder


def keep_same_position(
    target: Path, staging: Path, position: dict[str, int]
) -> Mapping[str, tuple[str, ...]]:
    """Links into `staging` the unit files of the checkpoint at `target` that it lacks, when
    both hold the same position (two callbacks write one tag at one update): a weights-only
    write then does not replace the optimizer and trainer state of a resumable one.

    Returns:
        The aliases that checkpoint was published as (the new one is them as well), or none.
    """
    info = read_manifest(target)
    if info is None or info.position != position:
        return {}
    for name in info.files:
        if name in UNIT_FILES and not (staging / name).exists():
            _carry_over(target / name, staging)
    return info.aliases


def _carry_over(old: Path, staging: Path) -> None:
    """A file of the folder being replaced, kept in the new one; one that cannot be (a full
    disk) is said: the new checkpoint goes without it."""
    try:
        link_or_copy(old, staging / old.name)
    except OSError as error:
        logger.warning(
            "%s is not kept in the new %s (%s)",
            old,
            old.parent.name,
            error.strerror or error,
        )


def publish(staging: Path, target: Path) -> None:
    """Gives the complete folder `staging` the name `target`, replacing what was there.

    Files of the replaced folder that the new one lacks (written by other callbacks, e.g.
    EMA weights) are carried over by hard link, so they stay next to the checkpoint.
    """
    parent = target.parent
    if not target.exists():
        os.rename(staging, target)
        fsync_folder(parent)
        return
    for old in target.iterdir():
        if old.name not in UNIT_FILES and not (staging / old.name).exists():
            _carry_over(old, staging)
    retired = parent / f"{_RETIRED}{target.name}-{secrets.token_hex(4)}"
    os.rename(target, retired)
    os.rename(staging, target)
    fsync_folder(parent)
    delete_folder(retired)


def publish_alias(source: Path, tag: str, files: Collection[str]) -> Path:
    """Publishes the checkpoint in folder `source` also as `tag`: hard links of its `files`
    (those it holds), under a manifest of their own. Returns the folder `tag`."""
    info = read_manifest(source)
    if info is None:
        raise CheckpointNotFoundError(f"{source}: no complete checkpoint to publish as {tag}")
    checkpoint_dir = source.parent
    staging = new_staging_folder(checkpoint_dir, tag)
    for name in set(files) & set(info.files) - {MANIFEST_FILE}:
        link_or_copy(source / name, staging / name)
    target = checkpoint_dir / tag
    keep_same_position(target, staging, info.position)
    write_manifest(staging, info.tag, info.position, info.config_yaml, info.world_size or 1)
    publish(staging, target)
    return target


def _leftovers(checkpoint_dir: Path, prefix: str, tag: str | None = None) -> list[Path]:
    if not checkpoint_dir.is_dir():
        return []
    found = [p for p in checkpoint_dir.iterdir() if p.name.startswith(prefix) and p.is_dir()]
    if tag is not None:
        found = [p for p in found if p.name[len(prefix) :].rpartition("-")[0] == tag]
    return sorted(found)


def _swap_candidate(checkpoint_dir: Path, tag: str) -> Path | None:
    """During an interrupted replacement of `tag`: the newest complete folder of it."""
    retired = [p for p in _leftovers(checkpoint_dir, _RETIRED, tag) if read_manifest(p)]
    if not retired:
        return None
    staged = [p for p in _leftovers(checkpoint_dir, _STAGING, tag) if read_manifest(p)]
    # the staged folder is the newer one: its manifest was written after the old was published
    return max(staged or retired, key=lambda p: (p / MANIFEST_FILE).stat().st_mtime_ns)


def resolve(checkpoint_dir: Path, tag: str) -> Path | None:
    """The complete folder of checkpoint `tag` (read-only: nothing is moved), or None.

    A tag names one folder of `checkpoint_dir`: a path (`../other/checkpoints/E1_U2_S8`)
    is no checkpoint of this run, even where a checkpoint lies at its end."""
    if tag in ("", "..") or Path(tag).name != tag:
        return None
    folder = checkpoint_dir / tag
    if read_manifest(folder) is not None:
        return folder
    if folder.exists():
        return None
    return _swap_candidate(checkpoint_dir, tag)


def find(checkpoint_dir: Path, tag: str) -> CheckpointInfo | None:
    """The complete checkpoint `tag` (see `resolve`), or None.

    Its `tag` is the name it was found by: the folder `latest` holds the files of the
    checkpoint it was published from (`sigterm_<position>`) and a manifest naming that one,
    but it is the folder `latest` that a resume reads and that deleting it must remove."""
    folder = resolve(checkpoint_dir, tag)
    info = read_manifest(folder) if folder is not None else None
    return dataclasses.replace(info, tag=tag) if info is not None else None


def recover(checkpoint_dir: Path) -> None:
    """Finishes interrupted replacements and deletes the leftovers of interrupted writes."""
    for retired in _leftovers(checkpoint_dir, _RETIRED):
        tag = retired.name[len(_RETIRED) :].rpartition("-")[0]
        target = checkpoint_dir / tag
        if not target.exists():
            candidate = _swap_candidate(checkpoint_dir, tag)
            if candidate is not None:
                os.rename(candidate, target)
                fsync_folder(checkpoint_dir)
        delete_folder(retired)
    for leftover in (*_leftovers(checkpoint_dir, _STAGING), *_leftovers(checkpoint_dir, _REMOVED)):
        delete_folder(leftover)


def finish_interrupted(checkpoint_dir: Path, tag: str) -> list[str]:
    """Before a run continues from checkpoint `tag` (or ends there): finishes what a stop
    cut off, interrupted writes and deletions (`recover`), and the aliases its manifest lists
    that hold another position (killed after the checkpoint, before its `latest`).

    Returns:
        The aliases published.
    """
    recover(checkpoint_dir)
    info = find(checkpoint_dir, tag)
    if info is None:
        return []
    published = []
    for alias, files in info.aliases.items():
        current = find(checkpoint_dir, alias)
        if current is None or current.position != info.position:
            publish_alias(info.path, alias, files)
            published.append(alias)
    return published


def list_checkpoints(checkpoint_dir: Path) -> list[CheckpointInfo]:
    """Every complete checkpoint of a run (including one caught mid-replacement), each under
    its folder's name (an alias such as `latest` is listed as itself)."""
    if not checkpoint_dir.is_dir():
        return []
    tags = {p.name for p in checkpoint_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}
    tags |= {
        p.name[len(_RETIRED) :].rpartition("-")[0] for p in _leftovers(checkpoint_dir, _RETIRED)
    }
    found = [find(checkpoint_dir, tag) for tag in sorted(tags)]
    return [info for info in found if info is not None]


def damaged(checkpoint_dir: Path) -> list[str]:
    """The folders that hold checkpoint files (a manifest, weights, optimizer or trainer
    state) but are no complete checkpoint: cut short by a copy, or damaged since. A folder
    with other files only (EMA weights at a position without a checkpoint) is none."""
    if not checkpoint_dir.is_dir():
        return []
    return sorted(
        folder.name
        for folder in checkpoint_dir.iterdir()
        if folder.is_dir()
        and not folder.name.startswith(".")
        and any((folder / name).exists() for name in UNIT_FILES)
        and read_manifest(folder) is None
    )


def newest_resumable(checkpoint_dir: Path) -> CheckpointInfo | None:
    """The resumable checkpoint furthest into training (error checkpoints are left out); of
    several at that update, one under its own name rather than `latest`, which the resumed
    run replaces."""
    candidates = [
        info for info in list_checkpoints(checkpoint_dir) if info.resumable and not info.is_error
    ]
    return max(candidates, key=lambda info: (info.update, info.tag != LATEST_TAG), default=None)


def require_newest_resumable(checkpoint_dir: Path, run_dir: Path) -> CheckpointInfo:
    """`newest_resumable`, or a CheckpointNotFoundError naming the run and what to save."""
    info = newest_resumable(checkpoint_dir)
    if info is None:
        raise CheckpointNotFoundError(
            f"{run_dir} has no complete checkpoint with optimizer and trainer state to "
            "resume from (save them with a checkpoint callback, save_optim: true)"
        )
    return info


def later_resumable(checkpoint_dir: Path, position: int) -> list[CheckpointInfo]:
    """The resumable checkpoints past update `position` (resuming there retires them); error
    checkpoints are kept, as no resume reads them unless asked."""
    return [
        info
        for info in list_checkpoints(checkpoint_dir)
        if info.resumable and not info.is_error and info.update > position
    ]


def remove(checkpoint_dir: Path, tag: str) -> None:
    """Deletes checkpoint `tag`: renamed aside first (it stops being a checkpoint at once, and
    a deletion cut short leaves no part of it under its name), then the folder with every
    file in it, those other callbacks added (EMA weights of the same position) included; also
    the folders of an interrupted replacement of `tag`, which `resolve` would read in its
    place."""
    folder = checkpoint_dir / tag
    if folder.is_dir():
        removed = checkpoint_dir / f"{_REMOVED}{tag}-{secrets.token_hex(4)}"
        os.rename(folder, removed)
        fsync_folder(checkpoint_dir)
        delete_folder(removed)
    for leftover in (
        *_leftovers(checkpoint_dir, _RETIRED, tag),
        *_leftovers(checkpoint_dir, _STAGING, tag),
    ):
        delete_folder(leftover)
