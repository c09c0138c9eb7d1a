"""Training throughput per scheme: images/s of one full training step, data pipeline included.

A step = uint8 NHWC batch → device → crop/flip → scheme (AugMix views, mixing, noise) →
forward/backward → SGD step. Timed with CUDA events on a GPU, perf_counter on the CPU.

    uv run python benchmarks/bench_train.py --arch preactresnet18 --width 1 --batch-size 128
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import torch

from noisymix.augment import random_crop_flip
from noisymix.device import resolve_device
from noisymix.methods import create_scheme, list_schemes
from noisymix.models import create_model


def bench_scheme(name: str, args, device: torch.device) -> float:
    model = create_model(args.arch, 10, args.width).to(device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    scheme = create_scheme(name, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    gen = torch.Generator(device=device).manual_seed(0)
    rng = np.random.default_rng(0)
    images = torch.from_numpy(rng.integers(0, 256, (args.batch_size * 4, args.size, args.size, 3),
                                           dtype=np.uint8))
    labels = torch.from_numpy(rng.integers(0, 10, args.batch_size * 4))
    if cuda:
        images, labels = images.to(device), labels.to(device)

    def step(i: int) -> None:
        sl = slice((i % 4) * args.batch_size, (i % 4 + 1) * args.batch_size)
        x = images[sl].to(device).permute(0, 3, 1, 2).float().div_(255)
        x = random_crop_flip(x, gen)
        if cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = scheme(model, x, labels[sl].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(args.warmup):
        step(i)
    if cuda:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        for i in range(args.steps):
            step(i)
        end.record()
        torch.cuda.synchronize()
        seconds = start.elapsed_time(end) / 1000
    else:
        t0 = time.perf_counter()
        for i in range(args.steps):
            step(i)
        seconds = time.perf_counter() - t0
    return args.steps * args.batch_size / seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="preactresnet18")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--schemes", nargs="*", default=list_schemes())
    args = p.parse_args()
    device = resolve_device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(f"# {args.arch} width {args.width}, batch {args.batch_size}, {args.size}px, "
          f"{device} ({where}), torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{'scheme':<16}{'images/s':>12}")
    for name in args.schemes:
        print(f"{name:<16}{bench_scheme(name, args, device):>12.1f}", flush=True)


if __name__ == "__main__":
    main()
