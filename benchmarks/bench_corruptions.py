"""Corruption generation throughput: noisymix (batched torch) beside the reference, per corruption.

Images/s of ``noisymix.corruptions.corrupt`` over all 5 severities for each registered
corruption, on the same images and in the same process, beside the reference:

* ``--preset imagenet``: the ``imagecorruptions`` package (``imagecorruptions.corrupt``);
* ``--preset cifar``: with ``--reference PATH``, a checkout of hendrycks/robustness, the
  per-corruption functions of its ``ImageNet-C/create_c/make_cifar_c.py`` (imported at run
  time without running its main body; motion_blur and snow need ``wand`` + ImageMagick and
  are reported unavailable without them). Without ``--reference`` only noisymix is timed.

The references are single-process numpy/scipy/OpenCV code, one image at a time (as their
scripts run); noisymix corrupts batches of --batch-size on --device with --threads torch
threads. The reference gets PIL/uint8 images made before timing and its output is cast to
uint8 as its script does. Each side is timed --repeat times and keeps its fastest run.
ratio = noisymix img/s / reference img/s; the last row sums the times
of the rows that have both. Images: scikit-learn digits upscaled to --size (offline, real).
Method: Hendrycks & Dietterich, arXiv:1903.12261.

    uv run --frozen python benchmarks/bench_corruptions.py --preset imagenet --n 64 --size 224
    uv run --frozen python benchmarks/bench_corruptions.py --preset cifar --n 1000 \
        --reference ~/src/robustness
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import time

import cv2
import numpy as np
import torch
from _reference import (
    checkout,
    fromstring_bytes,
    load_definitions,
    machine_line,
    numpy_with,
    stub_missing,
)
from PIL import Image
from sklearn.datasets import load_digits

from noisymix.corruptions import corrupt, list_corruptions

CIFAR_C = "ImageNet-C/create_c/make_cifar_c.py"
WAND = ("wand.image", "wand.api", "wand.color")


def images(n: int, size: int) -> np.ndarray:
    d = load_digits().images
    g = [cv2.resize((d[i % len(d)] / 16 * 255).astype(np.uint8), (size, size),
                    interpolation=cv2.INTER_CUBIC) for i in range(n + 2)]
    return np.stack([np.stack([g[i], g[i + 1][::-1], 255 - g[i + 2]], -1) for i in range(n)])


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def best_of(repeat: int, run) -> float:
    """Fastest of ``repeat`` timed calls of ``run()`` (timeit's rule: the minimum is the
    figure least disturbed by the rest of the machine), for both sides alike."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    return min(times)


def time_ours(x, name, preset, device, batch_size, repeat) -> float:
    def run():
        for s in range(1, 6):
            for i in range(0, len(x), batch_size):
                corrupt(x[i:i + batch_size], name, s, preset, 0,
                        range(i, min(i + batch_size, len(x))), device).cpu()
        sync(device)
    sync(device)
    return best_of(repeat, run)


def time_ref(x, name, repeat) -> float:
    import imagecorruptions

    imagecorruptions.corrupt(x[0], corruption_name=name, severity=1)  # warm-up (numba JIT)

    def run():
        np.random.seed(0)
        for s in range(1, 6):
            for im in x:
                imagecorruptions.corrupt(im, corruption_name=name, severity=s)
    return best_of(repeat, run)


def load_cifar_reference(path: str):
    """make_cifar_c.py of a hendrycks/robustness checkout, its definitions only (see _reference).

    Shims, applied to that module alone: stand-ins for ``wand`` when it (or ImageMagick) is
    missing, ``np.fromstring`` on bytes and ``np.float_`` (removed in numpy 2) and skimage's
    ``gaussian(..., multichannel=True)`` (now ``channel_axis=-1``). Returns (module, its
    folder, the names stubbed).
    """
    file = checkout(path, "--reference", "hendrycks/robustness", CIFAR_C) / CIFAR_C
    stubbed = stub_missing(*WAND)
    try:
        import scipy.ndimage.interpolation  # the deprecated alias the script imports
    except ImportError:
        import sys

        import scipy.ndimage
        sys.modules["scipy.ndimage.interpolation"] = scipy.ndimage
    mod = load_definitions(file, "make_cifar_c")
    mod.np = numpy_with(fromstring=fromstring_bytes, float_=np.float64)
    if "multichannel" not in inspect.signature(mod.gaussian).parameters:
        gaussian = mod.gaussian
        mod.gaussian = lambda *a, multichannel=False, **k: gaussian(
            *a, channel_axis=-1 if multichannel else None, **k)
    return mod, file.parent, stubbed


def time_ref_cifar(ref, folder, pil, name, repeat) -> float:
    """Seconds for the reference to corrupt every image at severities 1–5 (frost reads its
    textures relative to the script's folder, so it runs there)."""
    fn = getattr(ref, name)

    def run():
        np.random.seed(0)
        for s in range(1, 6):
            for im in pil:
                np.uint8(fn(im, s))
    with contextlib.chdir(folder):
        np.uint8(fn(pil[0], 1))  # warm-up; raises if unavailable
        return best_of(repeat, run)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=["cifar", "imagenet"], default="imagenet")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--size", type=int, help="image side (default 32 for cifar, 224 for imagenet)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    ap.add_argument("--only", nargs="*", help="subset of corruptions")
    ap.add_argument("--reference", metavar="PATH",
                    help="hendrycks/robustness checkout (reference for --preset cifar)")
    ap.add_argument("--no-ref", action="store_true", help="time noisymix only")
    ap.add_argument("--repeat", type=int, default=3,
                    help="time each side this many times and keep the fastest (default 3)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    size = args.size or (32 if args.preset == "cifar" else 224)
    if args.reference and args.preset != "cifar":
        ap.error("--reference is the CIFAR reference (hendrycks/robustness): use it with "
                 "--preset cifar; --preset imagenet compares with the imagecorruptions package")
    if args.reference and size != 32:
        ap.error(f"--reference: make_cifar_c.py works on 32x32 images only (got --size {size})")

    x = images(args.n, size)
    names = args.only or list_corruptions()
    ref = stubbed = None
    if not args.no_ref and args.preset == "imagenet":
        ref, label = "imagecorruptions", "imagecorruptions package"
    elif not args.no_ref and args.reference:
        ref, folder, stubbed = load_cifar_reference(args.reference)
        label = f"{args.reference}/{CIFAR_C}"
        pil = [Image.fromarray(im) for im in x]
    print(machine_line(args.device))
    print(f"# preset={args.preset} n={args.n} size={size} batch={args.batch_size}; images/s over "
          f"5 severities, same images, fastest of {args.repeat} runs per side. noisymix: batched torch on {args.device}"
          + (f"; reference ({label}): single-process numpy, one image at a time" if ref else
             "; no reference timed"))
    if stubbed:
        print(f"# reference: {', '.join(stubbed)} not importable (wand/ImageMagick missing): "
              "motion_blur and snow reference unavailable")
    print("| corruption | noisymix img/s |" + (" reference img/s | ratio |" if ref else ""))
    print("|---|---:|" + ("---:|---:|" if ref else ""))
    total_ours = total_ref = 0.0
    both, missing = 0, []
    for name in names:
        try:
            corrupt(x[:2], name, 1, args.preset, device=args.device)  # warm-up
            t_ours = time_ours(x, name, args.preset, args.device, args.batch_size, args.repeat)
        except RuntimeError as e:  # e.g. out of memory: report and go on
            print(f"| {name} | failed: {str(e).splitlines()[0][:80]} |", flush=True)
            missing.append(name)
            continue
        ours = 5 * len(x) / t_ours
        row = f"| {name} | {ours:.1f} |"
        if ref:
            try:
                t_ref = (time_ref(x, name, args.repeat) if ref == "imagecorruptions"
                         else time_ref_cifar(ref, folder, pil, name, args.repeat))
            except Exception as e:  # noqa: BLE001 - a reference function that cannot run here
                why = str(e).splitlines()[0][:70] if str(e) else type(e).__name__
                if stubbed and name in ("motion_blur", "snow"):
                    why = "needs wand + ImageMagick"
                row += f" unavailable ({why}) | – |"
                missing.append(name)
            else:
                theirs = 5 * len(x) / t_ref
                row += f" {theirs:.1f} | {ours / theirs:.2f} |"
                total_ours, total_ref, both = total_ours + t_ours, total_ref + t_ref, both + 1
        print(row, flush=True)
    if ref and both:
        ours, theirs = 5 * len(x) * both / total_ours, 5 * len(x) * both / total_ref
        print(f"| all corruptions (sum of times) | {ours:.1f} | {theirs:.1f} | "
              f"{ours / theirs:.2f} |")
        if missing:
            print(f"# the sum leaves out {', '.join(missing)} (not timed on both sides)")


if __name__ == "__main__":
    main()
