"""Corruption generation throughput: noisymix (batched torch) vs imagecorruptions (per image).

Images/s of ``noisymix.corruptions.corrupt`` over all 5 severities for each registered
corruption, side by side with ``imagecorruptions.corrupt`` (the ImageNet-C preset; the
reference column is skipped for ``--preset cifar``, which the package does not implement).
Images: scikit-learn digits upscaled to --size (offline, real). Reference of the method:
Hendrycks & Dietterich, arXiv:1903.12261.

    uv run --frozen python benchmarks/bench_corruptions.py --preset imagenet --n 64 --size 224
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch
from sklearn.datasets import load_digits

from noisymix.corruptions import corrupt, list_corruptions


def images(n: int, size: int) -> np.ndarray:
    d = load_digits().images
    g = [cv2.resize((d[i % len(d)] / 16 * 255).astype(np.uint8), (size, size),
                    interpolation=cv2.INTER_CUBIC) for i in range(n + 2)]
    return np.stack([np.stack([g[i], g[i + 1][::-1], 255 - g[i + 2]], -1) for i in range(n)])


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_ours(x, name, preset, device, batch_size) -> float:
    sync(device)
    t = time.perf_counter()
    for s in range(1, 6):
        for i in range(0, len(x), batch_size):
            corrupt(x[i:i + batch_size], name, s, preset, 0, range(i, min(i + batch_size, len(x))),
                    device).cpu()
    sync(device)
    return time.perf_counter() - t


def time_ref(x, name) -> float:
    import imagecorruptions

    imagecorruptions.corrupt(x[0], corruption_name=name, severity=1)  # warm-up (numba JIT)
    np.random.seed(0)
    t = time.perf_counter()
    for s in range(1, 6):
        for im in x:
            imagecorruptions.corrupt(im, corruption_name=name, severity=s)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=["cifar", "imagenet"], default="imagenet")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--only", nargs="*", help="subset of corruptions")
    args = ap.parse_args()

    x = images(args.n, args.size)
    names = args.only or list_corruptions()
    ref = args.preset == "imagenet"
    print(f"# preset={args.preset} n={args.n} size={args.size} device={args.device} "
          f"torch={torch.__version__} threads={torch.get_num_threads()}; images/s over 5 severities")
    print(f"| corruption | noisymix img/s | {'imagecorruptions img/s | ratio |' if ref else ''}")
    print(f"|---|---:|{'---:|---:|' if ref else ''}")
    for name in names:
        try:
            corrupt(x[:2], name, 1, args.preset, device=args.device)  # warm-up
            ours = 5 * len(x) / time_ours(x, name, args.preset, args.device, args.batch_size)
        except RuntimeError as e:  # e.g. out of memory: report and go on
            print(f"| {name} | failed: {str(e).splitlines()[0][:80]} |", flush=True)
            continue
        row = f"| {name} | {ours:.1f} |"
        if ref:
            theirs = 5 * len(x) / time_ref(x, name)
            row += f" {theirs:.1f} | {ours / theirs:.2f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
