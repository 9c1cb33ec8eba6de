"""Host time per batch of the CUDA prefetcher against plain copies (run by hand, on a GPU).

Where the GPU idles while the host loads data and launches kernels (workloads A and B of
`gpu_throughput.py`), every microsecond the host spends on a batch is lost throughput. This
times, per batch (two pinned float32 tensors of workload B's size, 128 x 256) and without
compute:

- `plain`: `.to(device, non_blocking=True)` of each tensor, on the compute stream;
- `prefetcher`: the batches through `CudaPrefetcher` (copies on a side stream, one ahead);

and the pieces of the prefetcher's work per batch: entering and leaving the side stream with
the `torch.cuda.stream` context or with two `torch.cuda.set_stream` calls, an event recorded
and waited for, `wait_stream`, and `record_stream` on a fresh tensor (against the allocation
alone). Each is timed over `--batches` batches, in `--rounds` interleaved rounds, after a
synchronisation; the median per batch is printed.

    python tools/bench/prefetch_copy.py                 # on the current CUDA device
    python tools/bench/prefetch_copy.py --batches 5000 --rounds 9
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch

from noether.core.data.loader import pin_batch
from noether.core.data.prefetch import CudaPrefetcher

Batch = dict[str, torch.Tensor]


def make_cases(device: torch.device, pool: list[Batch]) -> dict[str, Callable[[int], None]]:
    """What each case does for `n` batches."""
    side = torch.cuda.Stream(device)  # type: ignore[no-untyped-call]
    compute = torch.cuda.current_stream(device)
    event = torch.cuda.Event()  # type: ignore[no-untyped-call]

    def plain(n: int) -> None:
        for i in range(n):
            batch = pool[i % len(pool)]
            {key: value.to(device, non_blocking=True) for key, value in batch.items()}

    def prefetcher(n: int) -> None:
        for _ in CudaPrefetcher((pool[i % len(pool)] for i in range(n)), device):
            pass

    def stream_context(n: int) -> None:
        for _ in range(n):
            with torch.cuda.stream(side):
                pass

    def set_stream_pair(n: int) -> None:
        for _ in range(n):
            torch.cuda.set_stream(side)
            torch.cuda.set_stream(compute)

    def event_wait(n: int) -> None:
        for _ in range(n):
            event.record(side)
            compute.wait_event(event)

    def wait_stream(n: int) -> None:
        for _ in range(n):
            compute.wait_stream(side)

    def allocate(n: int) -> None:
        for _ in range(n):
            torch.empty(128, 256, device=device)

    def allocate_and_record_stream(n: int) -> None:
        for _ in range(n):
            torch.empty(128, 256, device=device).record_stream(compute)

    return {
        "plain": plain,
        "prefetcher": prefetcher,
        "stream_context": stream_context,
        "set_stream_pair": set_stream_pair,
        "event_wait": event_wait,
        "wait_stream": wait_stream,
        "allocate": allocate,
        "allocate_and_record_stream": allocate_and_record_stream,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000, help="batches per timing")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("prefetch_copy.py needs a CUDA device", file=sys.stderr)
        return 2
    device = torch.device("cuda", torch.cuda.current_device())
    generator = torch.Generator().manual_seed(0)
    pool = [
        pin_batch({key: torch.randn(128, 256, generator=generator) for key in ("x", "y")})
        for _ in range(16)
    ]
    cases = make_cases(device, pool)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.rounds):
        for name, case in cases.items():
            case(args.batches // 10)  # warm-up
            torch.cuda.synchronize(device)
            start = time.perf_counter()
            case(args.batches)
            torch.cuda.synchronize(device)
            times[name].append((time.perf_counter() - start) / args.batches * 1e6)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(device)}")
    print(f"{'case':28s} {'us per batch':>12s} {'min':>8s}")
    for name, values in times.items():
        print(f"{name:28s} {statistics.median(values):12.2f} {min(values):8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
