"""`run.json`: where a run's original config file is, so that its folder (which holds the
user's schema and runtime modules) goes on `sys.path` when the run is resumed, loaded as a
trained model, or started again from its resolved `config.yaml`.

Imports no torch: `noether-train --print-config` of a run's config.yaml uses it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from noether.config.loader.local_modules import put_on_path
from noether.core.runs import PathProvider, run_config_path
from noether.core.text_files import replace_text

RUN_INFO_FILE = "run.json"
"""Where a run's config came from, so `--resume` finds the user's modules next to it."""


def write_run_info(path_provider: PathProvider, config_file: Path) -> None:
    """Records the config file of a run (its folder holds the user's schema modules), also
    relative to the run folder, which stays right when the project (run folders inside it)
    is renamed or copied to another path. A run started from another run's config.yaml
    records that run's original config: its modules are there, not in the old run."""
    source_run = run_of_config(config_file)
    source_dir = find_config_dir(source_run) if source_run is not None else None
    recorded = _run_info(source_run).get("config_file") if source_run is not None else None
    if source_dir is not None and isinstance(recorded, str):
        config_dir, file_text = source_dir, str(source_dir / Path(recorded).name)
    else:
        config_dir, file_text = config_file.parent.resolve(), str(config_file.resolve())
    info = {
        "config_file": file_text,
        "config_dir": str(config_dir),
        "config_dir_from_run": os.path.relpath(config_dir, path_provider.run_dir.resolve()),
    }
    replace_text(path_provider.run_dir / RUN_INFO_FILE, json.dumps(info, indent=1) + "\n")


def run_of_config(config_file: Path) -> Path | None:
    """The run folder whose resolved config.yaml `config_file` is (a new run started from a
    run's config), else None."""
    folder = config_file.parent
    if config_file.name != run_config_path(folder).name:
        return None
    return folder if (folder / RUN_INFO_FILE).is_file() else None


def _run_info(run_dir: Path) -> dict[str, Any]:
    try:
        info = json.loads((run_dir / RUN_INFO_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def find_config_dir(run_dir: Path) -> Path | None:
    """The folder of the run's original config (recorded in run.json): where it was, else
    where it is relative to the run folder now (the project was moved, with the config file
    in it); None if it is in neither."""
    info = _run_info(run_dir)
    recorded, relative = info.get("config_dir"), info.get("config_dir_from_run")
    if isinstance(recorded, str) and Path(recorded).is_dir():
        return Path(recorded)
    config_file = info.get("config_file")
    if isinstance(relative, str) and isinstance(config_file, str):
        moved = Path(os.path.normpath(run_dir.resolve() / relative))
        if (moved / Path(config_file).name).is_file():
            return moved
    return None


def add_config_dir_to_path(run_dir: Path) -> str | None:
    """Puts the folder of the run's original config on sys.path (as loading it did): where
    it was, else where it is relative to the run folder now (the project was moved).

    Returns:
        A note when the folder is recorded but found in neither place, else None.
    """
    found = find_config_dir(run_dir)
    if found is not None:
        put_on_path(str(found))
        return None
    recorded = _run_info(run_dir).get("config_dir")
    if not isinstance(recorded, str):
        return None
    return (
        f"the folder of the run's config, {recorded}, is gone (moved?): its modules are "
        "imported only if they are on PYTHONPATH"
    )
