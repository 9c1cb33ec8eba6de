"""CudaPrefetcher: batches copied one ahead on a side stream arrive equal and on the device."""

from __future__ import annotations

import pytest
import torch

from noether.core.data.loader import pin_batch
from noether.core.data.prefetch import CudaPrefetcher

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def make_batches(count: int) -> list[dict[str, object]]:
    generator = torch.Generator().manual_seed(0)
    return [
        {
            "x": torch.randn(256, 64, generator=generator),
            "y": torch.arange(256) + i,
            "name": f"batch {i}",
        }
        for i in range(count)
    ]


def test_a_cpu_device_is_refused():
    with pytest.raises(ValueError, match="CUDA"):
        CudaPrefetcher(iter([]), torch.device("cpu"))


@needs_cuda
@pytest.mark.parametrize("pinned", [True, False])
def test_batches_arrive_equal_and_on_the_device(pinned):
    batches = make_batches(5)
    source = [pin_batch(b) for b in batches] if pinned else batches
    device = torch.device("cuda")
    received = list(CudaPrefetcher(iter(source), device))
    assert len(received) == len(batches)
    for got, want in zip(received, batches, strict=True):
        assert got["name"] == want["name"]
        for key in ("x", "y"):
            assert got[key].device.type == "cuda"
            assert torch.equal(got[key].cpu(), want[key])


@needs_cuda
def test_compute_on_handed_out_batches_sees_the_copied_values():
    """Work queued behind a long kernel: without the stream wait the sums would read memory
    that the copy has not filled yet."""
    batches = make_batches(8)
    device = torch.device("cuda")
    big = torch.randn(4096, 4096, device=device)
    sums = []
    for batch in CudaPrefetcher(iter([pin_batch(b) for b in batches]), device):
        big = big @ big / 4096  # keeps the compute stream busy while the next copy runs
        sums.append(batch["x"].sum() + batch["y"].sum())
    torch.cuda.synchronize()
    want = [b["x"].sum() + b["y"].sum() for b in batches]
    for got, expected in zip(sums, want, strict=True):
        assert torch.allclose(got.cpu(), expected.to(got.dtype), rtol=1e-4)


@needs_cuda
def test_an_empty_stream_ends_at_once():
    assert list(CudaPrefetcher(iter([]), torch.device("cuda"))) == []
