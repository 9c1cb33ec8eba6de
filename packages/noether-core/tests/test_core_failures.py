"""A failed run's console lines name the error and the user's line, not a library's."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import noether.core.trainer.base
from noether.core.cli_preflight import is_user_error
from noether.core.failures import describe_failure, is_library_file


@pytest.mark.parametrize(
    ("filename", "library"),
    [
        (torch.nn.functional.__file__, True),
        (noether.core.trainer.base.__file__, True),
        (json.__file__, True),
        ("<frozen importlib._bootstrap>", True),
        ("/venv/lib/python3.11/site-packages/numpy/core/fromnumeric.py", True),
        ("/venv/lib/python3.11/site-packages/acme_surrogates/model.py", False),  # a user package
        ("/home/me/project/sphere_flow/model.py", False),
    ],
)
def test_library_files_are_told_from_the_users(filename: str, library: bool) -> None:
    assert is_library_file(filename) is library


def _users_code(values: dict[str, float]) -> float:
    return values["pressure"]


def test_the_users_innermost_line_is_named_past_library_frames() -> None:
    try:
        torch.tensor([1.0]).apply_(lambda _: _users_code({}))
    except KeyError as error:
        lines = describe_failure(error)
    assert lines[0] == "KeyError: 'pressure'"
    assert lines[1].startswith(f"  at {Path(__file__)}:")
    assert lines[1].endswith('in _users_code: return values["pressure"]')


def test_a_traceback_carried_as_text_gives_its_last_error_and_user_line() -> None:
    carried = (
        "Caught KeyError in DataLoader worker process 0.\nOriginal Traceback (most recent call "
        'last):\n  File "/venv/lib/python3.11/site-packages/torch/utils/data/fetch.py", line 52,'
        ' in fetch\n    data = self.dataset[index]\n  File "/home/me/project/data.py", line 9, '
        "in __getitem__\n    return sample[\"pressure\"]\nKeyError: 'pressure'\n"
    )
    assert describe_failure(RuntimeError(carried)) == [
        "KeyError: 'pressure' (in DataLoader worker process 0)",
        '  at /home/me/project/data.py:9 in __getitem__: return sample["pressure"]',
    ]


def test_the_dataset_and_index_being_read_follow_the_users_line() -> None:
    """In process from the error's notes; from a worker after the error's line in the text."""
    note = "while reading dataset 'val' at index 4"
    error = KeyError("pressure")
    error.add_note(note)
    assert describe_failure(error) == ["KeyError: 'pressure'", f"  {note}"]
    carried = (
        "Caught KeyError in DataLoader worker process 0.\nOriginal Traceback (most recent call "
        'last):\n  File "/home/me/project/data.py", line 9, in __getitem__\n    return '
        "sample[\"pressure\"]\nKeyError: 'pressure'\n" + note + "\n"
    )
    assert describe_failure(RuntimeError(carried)) == [
        "KeyError: 'pressure' (in DataLoader worker process 0)",
        '  at /home/me/project/data.py:9 in __getitem__: return sample["pressure"]',
        f"  {note}",
    ]


def test_an_error_carried_from_a_worker_names_its_type_as_in_process() -> None:
    """Python's traceback text puts the module before types outside builtins."""
    carried = (
        "Caught UnstackableItemsError in DataLoader worker process 1.\nOriginal Traceback (most "
        'recent call last):\n  File "/home/me/project/data.py", line 9, in load\n    return x\n'
        "noether.core.data.batch_items.UnstackableItemsError: dataset 'train': the item at "
        "index 5 has no key 'y.z'\n"
    )
    assert describe_failure(RuntimeError(carried))[0] == (
        "UnstackableItemsError: dataset 'train': the item at index 5 has no key 'y.z' "
        "(in DataLoader worker process 1)"
    )


def _send_a_tensor_then_die(queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    queue.put(torch.ones(3))
    queue.close()
    queue.join_thread()  # the message is in the pipe; the tensor's file stays with this process
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_batch_whose_worker_just_died_gets_the_worker_hint_not_a_bare_socket_error() -> None:
    """A worker killed a moment before its batch is taken in: torch cannot see yet that it
    exited, so its error is the socket's ("Connection reset by peer"), not torch's own."""
    context = torch.multiprocessing.get_context("fork")
    queue = context.Queue()
    worker = context.Process(target=_send_a_tensor_then_die, args=(queue,))
    worker.start()
    worker.join()
    assert worker.exitcode == -signal.SIGKILL
    with pytest.raises(OSError) as raised:
        queue.get(timeout=10)
    lines = describe_failure(raised.value)
    assert lines[-1].startswith("  a data worker process ended without an error of its own")
    with pytest.raises(OSError) as raised:
        Path("/nonexistent/sample.npz").read_bytes()  # the user's own missing file: no worker hint
    assert not any("data worker" in line for line in describe_failure(raised.value))


def test_an_error_of_a_collective_says_that_another_rank_may_have_failed_first() -> None:
    """A rank whose peer died fails in the collective, in the transport's words ("Connection
    reset by peer"); its message points to the peer's own error."""
    with pytest.raises(ValueError) as raised:  # no process group: torch.distributed raises
        torch.distributed.all_reduce(torch.zeros(1))
    lines = describe_failure(raised.value)
    assert lines[-1].startswith("  in torch.distributed's all_reduce, which all ranks join: ")
    assert "if another rank failed first, its own error says why" in lines[-1]
    assert "a rank killed by a signal writes none" in lines[-1]
    with pytest.raises(RuntimeError) as raised:
        torch.zeros(2) @ torch.zeros(3)
    assert "torch.distributed" not in "\n".join(describe_failure(raised.value))


def _raised_without_this_frame(call: Callable[[str], object], argument: str) -> BaseException:
    """The error `call` raises, with its traceback from `call` on: as the run catches it."""
    try:
        call(argument)
    except BaseException as exc:  # the error is the result
        assert exc.__traceback__ is not None
        return exc.with_traceback(exc.__traceback__.tb_next)
    raise AssertionError("it raised nothing")


def test_a_missing_file_that_the_users_dataset_read_through_numpy_is_its_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """numpy (torch, pathlib) raising on the user's path is their dataset's failure, said
    with their line; it was told as bad input, with no type and no line."""
    import numpy as np

    (tmp_path / "npy_dataset.py").write_text(
        "import numpy\n\ndef read(path):\n    return numpy.load(path)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import npy_dataset  # type: ignore[import-not-found]

    missing = str(tmp_path / "missing.npy")
    through_user = _raised_without_this_frame(npy_dataset.read, missing)
    assert isinstance(through_user, FileNotFoundError)
    assert not is_user_error(through_user)
    # a file that noether (or a library alone) was told to open is bad input
    only_library = _raised_without_this_frame(np.load, missing)
    assert isinstance(only_library, FileNotFoundError)
    assert is_user_error(only_library)
