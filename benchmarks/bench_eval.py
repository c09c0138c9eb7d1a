"""Evaluation throughput over a whole -C set: images/s of `noisymix eval` (reads included).

Without --benchmark it writes a synthetic CIFAR-layout set (15 corruptions × 5 severities ×
N random images) to a temp dir; without --ckpt it saves an untrained model of --arch/--width.

    uv run python benchmarks/bench_eval.py --arch preactresnet18 --width 1 --n 1000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from noisymix.checkpoint import save_model
from noisymix.corruptions import TEST_CORRUPTIONS
from noisymix.device import resolve_device
from noisymix.models import create_model
from noisymix.robustness import evaluate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", default=None)
    p.add_argument("--benchmark", default=None, help="a -C folder (CIFAR layout)")
    p.add_argument("--arch", default="preactresnet18")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--n", type=int, default=1000, help="images per severity block")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-eval-"))
    ckpt = args.ckpt
    if ckpt is None:
        ckpt = tmp / "model.safetensors"
        save_model(ckpt, create_model(args.arch, 10, args.width), {
            "arch": args.arch, "width": args.width, "num_classes": 10, "mean": [0.5] * 3,
            "std": [0.5] * 3, "dataset": "digits", "method": "erm", "seed": 0})
    bench = args.benchmark
    if bench is None:
        bench = tmp / "synthetic-c"
        bench.mkdir()
        rng = np.random.default_rng(0)
        for c in TEST_CORRUPTIONS:
            np.save(bench / f"{c}.npy", rng.integers(0, 256, (5 * args.n, 32, 32, 3), np.uint8))
        np.save(bench / "labels.npy", rng.integers(0, 10, 5 * args.n).astype(np.uint8))
    device = resolve_device(args.device)
    evaluate(ckpt, [str(bench)], device=str(device), batch_size=args.batch_size, limit=64)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    df = evaluate(ckpt, [str(bench)], device=str(device), batch_size=args.batch_size)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    n = int(df.query("severity > 0").n_images.sum())
    print(f"# {args.arch} width {args.width}, {device}, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}")
    print(f"evaluated {n} images in {seconds:.2f} s: {n / seconds:.0f} images/s")


if __name__ == "__main__":
    main()
