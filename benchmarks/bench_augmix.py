"""Throughput of batched AugMix (noisymix.augment.augmentations.augmix): images/s for a batch of 128
32×32 RGB images, on CPU and, if available, CUDA.

Usage: uv run --frozen python benchmarks/bench_augmix.py [--batch 128] [--iters 10] [--threads N]
Timings: wall clock around the augmix calls only, after warm-up; CUDA timed with CUDA events.
"""

from __future__ import annotations

import argparse
import time

import torch

from noisymix.augment.augmentations import augmix


def bench(device: str, batch: int, iters: int, all_ops: bool) -> float:
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.rand((batch, 3, 32, 32), generator=gen, device=device)
    for _ in range(2):  # warm-up (allocator, kernels)
        augmix(x, gen, all_ops=all_ops)
    if device == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        for _ in range(iters):
            augmix(x, gen, all_ops=all_ops)
        end.record()
        torch.cuda.synchronize()
        seconds = start.elapsed_time(end) / 1000
    else:
        t0 = time.perf_counter()
        for _ in range(iters):
            augmix(x, gen, all_ops=all_ops)
        seconds = time.perf_counter() - t0
    return batch * iters / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}")
    for device in devices:
        name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
        for all_ops in (False, True):
            ips = bench(device, args.batch, args.iters, all_ops)
            print(f"{device:5s} ({name}) all_ops={all_ops!s:5s}: {ips:10.0f} images/s")


if __name__ == "__main__":
    main()
