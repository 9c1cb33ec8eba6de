"""Precision names, device fallbacks (logged once) and autocast contexts."""

from __future__ import annotations

import contextlib
import logging

import pytest
import torch

from noether.core.precision import (
    autocast_factory,
    choose_precision,
    create_grad_scaler,
    parse_precision,
    resolve_precision,
)

CPU = torch.device("cpu")


def test_aliases_and_unknown_names():
    assert parse_precision("fp16") is torch.float16
    assert parse_precision("bf16") is torch.bfloat16
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        parse_precision("half")


def test_float16_on_cpu_falls_back_to_bfloat16_with_one_true_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="noether.core.precision"):
        assert resolve_precision("float16", CPU) is torch.bfloat16
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("precision float16 on cpu: using bfloat16 instead: ")
    assert "not supported" not in message
    linear = torch.nn.Linear(3, 3)  # what torch does: float16 autocast runs on cpu
    with torch.autocast("cpu", dtype=torch.float16):
        assert linear(torch.randn(2, 3)).dtype is torch.float16


def test_float32_and_bfloat16_on_cpu_are_kept_and_need_no_scaler(caplog):
    with caplog.at_level(logging.WARNING):
        assert resolve_precision("float32", CPU) is torch.float32
        assert resolve_precision("bfloat16", CPU) is torch.bfloat16
    assert not caplog.records
    assert create_grad_scaler(torch.bfloat16, CPU) is None
    assert create_grad_scaler(torch.float16, CPU) is None


def test_autocast_is_a_no_op_context_for_float32_and_casts_for_bfloat16():
    assert autocast_factory(torch.float32, CPU) is contextlib.nullcontext
    linear = torch.nn.Linear(3, 3)
    with autocast_factory(torch.bfloat16, CPU)():
        out = linear(torch.randn(2, 3))
    assert out.dtype is torch.bfloat16


def test_other_device_types_train_in_float32_saying_why():
    choice = choose_precision("bf16", torch.device("mps"))
    assert choice.dtype is torch.float32
    assert choice.describe("bf16") == (
        "float32 (asked for bf16: noether autocasts on cpu and cuda only, not on mps)"
    )
