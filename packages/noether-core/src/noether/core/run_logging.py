"""Logging of a `noether-train` run: console and train.log, and errors as messages.

An error that ends a run reaches the console as a few lines (what failed, where in the
user's code, where the traceback is); its traceback goes to the run's log file only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from noether.core.distributed import SAME_ON_EVERY_RANK, get_rank
from noether.core.failures import describe_failure
from noether.core.runs import PathProvider

logger = logging.getLogger("noether.train")
# Tracebacks of reported errors: written to the log file only, the console gets the message.
details_logger = logging.getLogger("noether.train.details")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def rank_log_path(path_provider: PathProvider, rank: int) -> Path:
    """Where a rank writes its log: train.log on rank 0, train.rank<N>.log (errors only,
    made when the first one is written) on the others."""
    log_path = path_provider.log_path
    if rank == 0:
        return log_path
    return log_path.with_name(f"{log_path.stem}.rank{rank}{log_path.suffix}")


_unwritable_logs: set[str] = set()
"""Log files whose writes failed (`_RunLogFileHandler`): `report` does not point to them."""


class _RunLogFileHandler(logging.FileHandler):
    """A log file that a failed write (a full disk, a file-size limit) turns off: one line on
    the console names the file and the error, instead of a traceback per log record."""

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            super().handleError(record)
            return
        _unwritable_logs.add(self.baseFilename)
        stream, self.stream = self.stream, None
        self.setLevel(logging.CRITICAL + 1)  # write nothing more
        if stream is not None:
            with contextlib.suppress(OSError):
                os.close(stream.fileno())  # drop the buffer: flushing it again fails the same way
            with contextlib.suppress(OSError):
                stream.close()
        print(
            f"noether-train: cannot write {self.baseFilename}: {error.strerror or error}; "
            "log lines from here on go to the console only",
            file=sys.stderr,
        )


@contextlib.contextmanager
def run_logging(path_provider: PathProvider | None) -> Iterator[Path | None]:
    """Python logging to the console and to the run folder, for this run only.

    Rank 0 writes INFO and above to the console and to train.log; other ranks only warnings
    and errors to the console, prefixed with their rank (so a multi-process run prints each
    line once; not those that every rank logs alike, `SAME_ON_EVERY_RANK`), and errors to
    their own log file. Yields that log file (None without one).
    """
    root = logging.getLogger()
    rank = get_rank()
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(lambda record: not record.name.startswith(details_logger.name))
    prefix = "" if rank == 0 else f"[rank {rank}] "
    console.setFormatter(logging.Formatter(prefix + LOG_FORMAT))
    if rank != 0:
        console.setLevel(logging.WARNING)
        console.addFilter(lambda record: not getattr(record, "same_on_every_rank", False))
    handlers: list[logging.Handler] = [console]
    log_path = None
    if path_provider is not None and (rank == 0 or path_provider.run_dir.is_dir()):
        log_path = rank_log_path(path_provider, rank)
        # other ranks: the file appears only when an error is written to it
        file_handler = _RunLogFileHandler(log_path, encoding="utf-8", delay=rank != 0)
        file_handler.setFormatter(logging.Formatter(LOG_FORMAT))
        if rank != 0:
            file_handler.setLevel(logging.ERROR)
        handlers.append(file_handler)
    previous_level, previous_hook = root.level, threading.excepthook
    root.setLevel(logging.INFO)
    for handler in handlers:
        root.addHandler(handler)
    threading.excepthook = _log_thread_error
    try:
        yield log_path
    finally:
        threading.excepthook = previous_hook
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(previous_level)


def _log_thread_error(args: threading.ExceptHookArgs) -> None:
    """An error that ends a background thread (a tracker's writer on a full disk, say): one
    line on the console, its traceback in the run's log file, as for the run's own errors."""
    if args.exc_type is SystemExit:
        return
    thread = args.thread.name if args.thread is not None else "?"
    error = f"{args.exc_type.__name__}: {args.exc_value}"
    logger.error("background thread %s failed: %s", thread, error)
    if args.exc_value is not None:
        details_logger.error("traceback of the error above", exc_info=args.exc_value)


def report(exc: BaseException, log_path: Path | None, headline: str | None = None) -> None:
    """The error as a message on the console and in the log file; its traceback in the log
    file only (without one, e.g. in a dry run, the message's frame says where it was).

    Args:
        exc: the error.
        log_path: this rank's log file (see `run_logging`), None without one.
        headline: what failed (e.g. "training failed after update 39 of 64"); adds the error's type
            and the user's frame that raised it, for errors that are not bad input.
    """
    # an error that every rank raises alike (a loss the ranks found non-finite together)
    extra = SAME_ON_EVERY_RANK if getattr(exc, "same_on_every_rank", False) else None
    if headline is None:
        logger.error("%s", exc, extra=extra)
    else:
        lines = describe_failure(exc)
        logger.error("%s: %s", headline, "\n".join(lines), extra=extra)
    details_logger.error("traceback of the error above", exc_info=exc)
    if headline is not None and log_path is not None:
        if os.path.abspath(log_path) in _unwritable_logs:
            logger.error("the traceback is lost: %s could not be written", log_path, extra=extra)
        elif not os.path.exists(log_path):  # its run folder was deleted under the run
            logger.error("the traceback is lost: %s is gone", log_path, extra=extra)
        else:
            logger.error("the traceback is in %s", log_path, extra=extra)
