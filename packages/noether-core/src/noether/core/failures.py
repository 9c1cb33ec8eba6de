"""What an unexpected error of a run is, in two lines: its message and the user's line.

The console of a failed run shows these; the traceback goes to the run's log file. The
user's line is the innermost frame outside the libraries (noether, torch, the standard
library and other well-known packages), found in the traceback, or in the text of one that
torch carried over from a data-loader worker process.
"""

from __future__ import annotations

import inspect
import re
import sysconfig
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import noether

LIBRARY_PACKAGES = frozenset(
    {
        "noether",
        "torch",
        "numpy",
        "scipy",
        "pandas",
        "h5py",
        "einops",
        "pydantic",
        "pydantic_core",
        "typer",
        "click",
        "yaml",
        "tensorboard",
        "wandb",
        "mlflow",
        "typing_extensions",
    }
)
"""Installed packages whose frames are not the user's code."""

READING = "while reading "
"""How the note starts that names the dataset and index whose reading raised an error
(`noether.core.data.batch_items.note_reading`): the console shows it, and it tells the note
apart in the text of a data worker's traceback, which carries notes after the error's line."""
BUILDING = "while building "
"""How the note starts that names the dataset (its key and line) whose constructor raised
(`noether.core.build.build_datasets`): train and val are often one class."""
EMBEDDED_TRACEBACK = "Traceback (most recent call last):"
_CAUGHT = re.compile(r"^Caught \S+ (?P<where>in .+?)\.?$")
"""torch's headline of a worker's error: `Caught KeyError in DataLoader worker process 0.`"""
_MODULE_OF_TYPE = re.compile(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*: )")
"""The module that Python's traceback text puts before an error's type outside builtins
(`noether.core.data.batch_items.UnstackableItemsError: ...`); without a worker, the console
names the type alone."""
_FRAME_LINE = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<name>.+)$')
_STDLIB = [Path(sysconfig.get_paths()[key]) for key in ("stdlib", "platstdlib")]
_INSTALLED = ("site-packages", "dist-packages")


def is_library_file(filename: str) -> bool:
    """Whether code of this file is a library's (see the module), not the user's."""
    if filename.startswith("<"):  # frozen modules, exec'd strings of libraries
        return True
    path = Path(filename)
    if any(path.is_relative_to(root) for root in map(Path, noether.__path__)):
        return True
    for marker in _INSTALLED:
        if marker in path.parts:
            top = path.parts[path.parts.index(marker) + 1 :][:1]
            return bool(top) and Path(top[0]).stem in LIBRARY_PACKAGES
    return any(path.is_relative_to(root) for root in _STDLIB)


def defined_at(method: Any) -> str:
    """`Class.method (file:line)` of a user's function or bound method, as far as it is known:
    a message about what the method does wrong points at it."""
    name = getattr(method, "__qualname__", repr(method))
    function: Callable[..., Any] = getattr(method, "__func__", method)
    try:
        file = inspect.getsourcefile(function)
        line = function.__code__.co_firstlineno
    except (TypeError, AttributeError):
        return str(name)
    return f"{name} ({file}:{line})"


def user_frame(tb: TracebackType | None) -> traceback.FrameSummary | None:
    """The innermost frame of the traceback in the user's code, or None without one."""
    frames = traceback.extract_tb(tb)
    return next((f for f in reversed(frames) if not is_library_file(f.filename)), None)


def raised_in_user_code(exc: BaseException) -> bool:
    """Whether the innermost frame of the error's traceback is the user's (their code raised
    it, rather than a library that checked their input)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and not is_library_file(frames[-1].filename)


def from_user_code(exc: BaseException) -> bool:
    """Whether the error came through the user's code (their dataset read a file, itself or
    through numpy or torch): here, or in a data worker, whose traceback torch carries in the
    message as text."""
    text = str(exc)
    if EMBEDDED_TRACEBACK in text:
        return _embedded(text)[1] is not None
    frames = traceback.extract_tb(exc.__traceback__)
    return any(not is_library_file(frame.filename) for frame in frames)


def _embedded(text: str) -> tuple[str | None, traceback.FrameSummary | None, list[str]]:
    """(console line, user frame, notes) of an error message that carries a worker's
    traceback as text (torch's `Caught X in DataLoader worker process N.`): the worker's own
    final error line, then where it was caught. None for the line when there is no final
    error line. Notes are noether's reading notes, which follow the error's line."""
    head, _, rest = text.partition(EMBEDDED_TRACEBACK)
    lines = [line for line in rest.splitlines() if line.strip()]
    notes: list[str] = []
    while lines and lines[-1].startswith(READING):
        notes.insert(0, lines.pop())
    found = None
    for index, line in enumerate(lines):
        match = _FRAME_LINE.match(line)
        if match and not is_library_file(match["file"]):
            code = lines[index + 1].strip() if index + 1 < len(lines) else ""
            found = traceback.FrameSummary(
                match["file"], int(match["line"]), match["name"], line=code
            )
    final = _MODULE_OF_TYPE.sub("", lines[-1].strip()) if lines else ""
    if not final:
        return None, found, notes
    head = head.strip().removesuffix("Original").strip()
    caught = _CAUGHT.match(head)
    where = caught["where"] if caught else head
    return (f"{final} ({where})" if where else final), found, notes


def describe_failure(exc: BaseException) -> list[str]:
    """The console lines of an unexpected error: its type and message, then where the
    user's code raised it or called into the library code that did (when it did), then
    the dataset and index that were being read (see `note_reading`)."""
    text = str(exc)
    frame = user_frame(exc.__traceback__)
    carried = None
    notes = [note for note in getattr(exc, "__notes__", ()) if note.startswith((READING, BUILDING))]
    if EMBEDDED_TRACEBACK in text:
        carried, frame, notes = _embedded(text)
    if carried is not None:
        lines = [carried]  # the worker's error line names its own type
    else:
        lines = [f"{type(exc).__name__}: {text}" if text else type(exc).__name__]
    if frame is None and isinstance(exc, SyntaxError) and exc.filename and exc.lineno:
        # a module that does not compile: the error's own place, not an importer's frame
        frame = traceback.FrameSummary(exc.filename, exc.lineno, "<module>", line=exc.text)
    if frame is not None:
        code = (frame.line or "").strip()
        where = f"{frame.filename}:{frame.lineno} in {frame.name}"
        lines.append(f"  at {where}" + (f": {code}" if code else ""))
    lines.extend(f"  {note}" for note in notes)
    if _WORKER_DIED.search(text) or lost_worker_connection(exc):
        lines.append(
            "  a data worker process ended without an error of its own: killed by a signal "
            "(out of memory?) or by sys.exit() in the dataset; with num_workers: 0 the dataset "
            "runs in this process, where its error is shown"
        )
    collective = _collective(exc)
    if collective is not None:
        lines.append(
            f"  in torch.distributed's {collective}, which all ranks join: if another rank "
            "failed first, its own error says why (train.rank<N>.log); a rank killed by a "
            "signal writes none: the launcher's output names its exit code"
        )
    return lines


def lost_worker_connection(exc: BaseException) -> bool:
    """Whether the error is a lost connection while taking in a tensor that another
    process shared (a data worker's batch): the worker died a moment ago, before torch's
    own check could see it exited, and torch then passes on the bare socket error."""
    if not isinstance(exc, (OSError, EOFError)):
        return False
    frames = traceback.extract_tb(exc.__traceback__)
    return any(_inside(frame.filename, "torch", "multiprocessing") for frame in frames)


def _collective(exc: BaseException) -> str | None:
    """The torch.distributed function that raised the error (a collective such as
    all_reduce), None when torch.distributed did not raise it: a rank that lost its peers
    fails there, in the transport's words, not in those of the peer's error. DDP's
    all_reduce of the gradients runs inside backward, so its failure comes from autograd."""
    frames = traceback.extract_tb(exc.__traceback__)
    names = []
    for frame in reversed(frames):
        if not _inside(frame.filename, "torch", "distributed"):
            break
        names.append(frame.name)
    public = [name for name in names if not name.startswith("_") and name != "wrapper"]
    if public:
        return public[-1]
    if frames and _inside(frames[-1].filename, "torch", "autograd") and _LOST_PEER.search(str(exc)):
        return "all_reduce of the gradients (DDP, in backward)"
    return None


_WORKER_DIED = re.compile(
    r"DataLoader worker \(pids?(?:\(s\))? [\d, ]+\) (?:exited unexpectedly|is killed)"
)
"""torch's words for a data worker that ended without sending an error back."""
_LOST_PEER = re.compile(r"gloo|NCCL|Connection (?:closed|reset) by peer")
"""How the transports of torch.distributed word a failure of the connection to another rank."""


def _inside(filename: str, *package: str) -> bool:
    """Whether a file lies in the folder of `package` (e.g. torch/distributed)."""
    parts = Path(filename).parts
    return any(parts[i : i + len(package)] == package for i in range(len(parts)))
