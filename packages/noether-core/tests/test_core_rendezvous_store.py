"""A rank that waits on the rendezvous store when the process serving it ends is told so in
one line (torch raised its DistNetworkError through the start checks: a traceback)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch.distributed as dist

from noether.core.launch import LaunchEnvironment
from noether.core.rendezvous import Rendezvous, RendezvousError
from noether.core.testing.ranks import free_port

SERVE = """
import sys, time
import torch.distributed as dist
store = dist.TCPStore("127.0.0.1", int(sys.argv[1]), is_master=True, wait_for_workers=False)
print("serving", flush=True)
time.sleep(600)
"""


def test_a_rank_waiting_on_a_store_whose_server_ended_gets_a_rendezvous_error() -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline() == "serving\n"
        store = dist.TCPStore("127.0.0.1", port, is_master=False)
        launch = LaunchEnvironment("slurm", rank=1, world_size=2, master_port=port)
        meeting = Rendezvous(store, launch, 60.0, f"127.0.0.1:{port}", "noether/0")
        started = time.monotonic()
        server.kill()  # rank 0 never posts: this rank waits until the store is gone
        with pytest.raises(RendezvousError, match=r"rank 1: lost the rendezvous at 127\.0\.0\.1:"):
            meeting.agree("preflight", 0, "")
        assert time.monotonic() - started < 30  # not the 60 s timeout
    finally:
        server.kill()
        server.wait()
