"""The precision and the matmul peak of this machine, measured rather than read from CPU flags: bf16
autocast only where a bf16 matmul is faster here, and the FLOP/s a run's utilization is taken against."""

from __future__ import annotations

import functools
import time

BF16_MIN_SPEEDUP = 1.2  # precision auto: bf16 only where a measured bf16 matmul is at least this much faster


def use_bf16(precision: str) -> bool:
    """bf16 autocast where it is faster here. ``auto`` decides by measuring, not by CPU flags: on a
    CPU with native bf16 (AVX512-BF16, AMX) LoRA on the 135M base trained 1.3-2x faster and scored
    2x faster in bf16; on an AVX2 CPU bf16 is emulated and was about 10x slower than fp32
    (docs/performance.md)."""
    import torch

    if precision == "bf16":
        return True
    if precision != "auto":
        return False
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return cpu_bf16_speedup() >= BF16_MIN_SPEEDUP


@functools.lru_cache(maxsize=1)
def cpu_bf16_speedup(size: int = 512, repeats: int = 4) -> float:
    """fp32 time / bf16 time of a square matmul on this CPU: the best of ``repeats`` of each, taken
    in turns so that a busy moment cannot decide alone (one preempted bf16 product once made a
    native-bf16 machine train in fp32). Where bf16 is emulated (10x slower) two turns show it, and
    the rest are skipped (about 0.5 s there; about 0.05 s where bf16 is native)."""
    import torch

    operands = {dtype: (torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)) for dtype in (torch.float32, torch.bfloat16)}
    best = {dtype: float("inf") for dtype in operands}
    for a, b in operands.values():
        torch.mm(a, b)  # first call: kernel selection, not timed
    for turn in range(repeats):
        for dtype, (a, b) in operands.items():
            started = time.perf_counter()
            torch.mm(a, b)
            best[dtype] = min(best[dtype], time.perf_counter() - started)
        if turn >= 1 and best[torch.bfloat16] > 5 * best[torch.float32]:
            break  # emulated: no need to measure it further
    return best[torch.float32] / max(best[torch.bfloat16], 1e-9)


@functools.lru_cache(maxsize=4)
def peak_matmul_flops(bf16: bool, device: str = "cpu", size: int = 1024, repeats: int = 5) -> float:
    """FLOP/s of a square matmul in the training precision on the training device, the best of
    ``repeats`` (about 0.1 s on a CPU): the practical peak a run's model FLOP utilization is
    measured against."""
    import torch

    dtype = torch.bfloat16 if bf16 else torch.float32
    generator = torch.Generator(device=device).manual_seed(0)  # its own generator: timing must not move the run's
    a, b = (torch.randn(size, size, device=device, generator=generator).to(dtype) for _ in range(2))

    def product() -> None:
        torch.mm(a, b)
        if a.is_cuda:
            torch.cuda.synchronize()

    product()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        product()
        best = min(best, time.perf_counter() - started)
    return 2.0 * size**3 / max(best, 1e-9)
