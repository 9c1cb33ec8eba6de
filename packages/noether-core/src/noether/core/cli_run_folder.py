"""The run folder of a `noether-train` run: made (or reopened), the files that say how the run
was started written into it (`config.yaml`, `run.json`), and a new one that could not be set
up removed again."""

from __future__ import annotations

import contextlib
from pathlib import Path

from noether.config import ExperimentConfig
from noether.core.build import create_path_provider
from noether.core.cli_run import resolved_config_text
from noether.core.distributed import is_rank0
from noether.core.resume import ResumePlan
from noether.core.run_info import RUN_INFO_FILE, write_run_info
from noether.core.runs import PathProvider, RunFolderError, remove_unstarted_run_folder
from noether.core.text_files import replace_text


def open_run_folder(
    config: ExperimentConfig, resume: ResumePlan | None, run_id: str | None
) -> PathProvider:
    """A new run folder, or the resumed run's own folder (`--resume`)."""
    if resume is None:
        return create_path_provider(config, run_id)
    run_dir = resume.run_dir.resolve()
    return PathProvider(
        run_dir.parent.parent,
        run_dir.parent.name,
        run_dir.name,
        reuse_existing=True,
        create=is_rank0(),
    )


def record_config(config: ExperimentConfig, config_file: Path, path_provider: PathProvider) -> None:
    """The validated config with every default filled in, as `config.yaml` of the run, and
    where it came from (`run.json`; not when resumed from the run's stored copy)."""
    if not is_rank0():
        return
    try:
        if config_file.resolve() != path_provider.config_path.resolve():
            write_run_info(path_provider, config_file)
        replace_text(path_provider.config_path, resolved_config_text(config))
    except OSError as exc:  # a full disk
        raise RunFolderError(
            f"run folder {path_provider.run_dir}: cannot write {Path(str(exc.filename)).name}: "
            f"{exc.strerror}"
        ) from None


def remove_unstarted(path_provider: PathProvider) -> None:
    """A new run folder whose set-up failed goes again (see `remove_unstarted_run_folder`)."""
    if is_rank0():
        remove_unstarted_run_folder(
            path_provider.run_dir, (path_provider.config_path.name, RUN_INFO_FILE)
        )


def stored_config_text(path_provider: PathProvider) -> str | None:
    """The run's config.yaml as it is, to put back when a resume trains nothing."""
    try:
        return path_provider.config_path.read_text(encoding="utf-8")
    except OSError:
        return None


def put_back_config(path_provider: PathProvider, text: str | None) -> None:
    """A resume that failed before its first update leaves config.yaml as it was: an
    override given to it (which may be what failed) would else apply to every later resume."""
    if text is None or not is_rank0():
        return
    with contextlib.suppress(OSError):  # a full disk: the failure's own report matters more
        replace_text(path_provider.config_path, text)
