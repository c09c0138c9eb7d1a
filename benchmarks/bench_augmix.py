"""Throughput of AugMix view generation: noisymix's batched AugMix beside the official PIL pipeline.

noisymix: ``noisymix.augment.augmentations.augmix`` called twice per batch (the two AugMix
views of the noisymix/augmix schemes; the clean view is the input), on a uint8 batch moved to
the device and scaled to [0, 1]; on CPU and, if available, CUDA. Reference (``--reference
PATH``: a checkout of erichson/NoisyMix, or of google-research/augmix): its ``AugMixDataset``
(clean + 2 AugMix views per image, its ``augmentations.py`` PIL ops) wrapping the same images
as PIL images, read through a torch DataLoader with --workers worker processes (its scripts use
4), its preprocessing (ToTensor + Normalize(0.5, 0.5)); timed over a second pass, so worker
start-up is left out. Both with mixture width 3, depth 1–3, severity 3.

Columns: images/s = images whose clean + 2 AugMix views were produced per second (same n
images of 32×32, same torch threads); ratio = that rate / the reference's rate (same all_ops).
Timings: wall clock after warm-up; CUDA synchronised.

    uv run --frozen python benchmarks/bench_augmix.py --batch 128 --iters 10 --workers 4 \\
        --reference ~/src/NoisyMix
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from _reference import checkout, load_definitions, machine_line, noisymix_args
from bench_corruptions import images
from PIL import Image

from noisymix.augment.augmentations import augmix


def bench(device: str, imgs: torch.Tensor, batch: int, all_ops: bool) -> float:
    """Images/s of noisymix producing 2 AugMix views of every image, batch by batch."""
    gen = torch.Generator(device=device).manual_seed(0)
    if device == "cuda":
        imgs = imgs.pin_memory()

    def run(lo: int, hi: int) -> None:
        x = imgs[lo:hi].to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
        augmix(x, gen, all_ops=all_ops)
        augmix(x, gen, all_ops=all_ops)

    for _ in range(2):  # warm-up (allocator, kernels)
        run(0, batch)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(0, len(imgs), batch):
        run(i, i + batch)
    if device == "cuda":
        torch.cuda.synchronize()
    return len(imgs) / (time.perf_counter() - t0)


class PILImages(torch.utils.data.Dataset):
    """(PIL image, label) pairs of uint8 HWC images, as torchvision's CIFAR datasets give them
    (``transform``, if any, applied to the image)."""

    def __init__(self, imgs: np.ndarray, labels=None, transform=None):
        self.imgs, self.labels, self.transform = imgs, labels, transform

    def __len__(self) -> int:
        return len(self.imgs)

    def __getitem__(self, i: int):
        im = Image.fromarray(self.imgs[i])
        return (self.transform(im) if self.transform else im,
                0 if self.labels is None else int(self.labels[i]))


def reference_dataset(path: str):
    """(label, make): make(dataset, preprocess, all_ops) is the reference's AugMixDataset with
    JSD (clean + 2 views per image)."""
    root = checkout(path, "--reference", "erichson/NoisyMix or google-research/augmix",
                    "augmentations.py")
    sys.path.insert(0, str(root))
    if (root / "aug_utils.py").is_file():  # erichson/NoisyMix: AugMixDataset(ds, pre, jsd, args)
        import aug_utils

        return "erichson/NoisyMix aug_utils.AugMixDataset", lambda ds, pre, all_ops: \
            aug_utils.AugMixDataset(ds, pre, 1, noisymix_args(all_ops=all_ops))
    if not (root / "cifar.py").is_file():
        sys.exit(f"error: --reference {path}: neither aug_utils.py (erichson/NoisyMix) nor "
                 "cifar.py (google-research/augmix) found")
    # google-research/augmix: AugMixDataset and aug() live in cifar.py and read a global args
    cifar = load_definitions(root / "cifar.py", "augmix_cifar", args=noisymix_args())

    def make(ds, pre, all_ops):
        cifar.args.all_ops = all_ops
        return cifar.AugMixDataset(ds, pre, no_jsd=False)

    return "google-research/augmix cifar.AugMixDataset", make


def bench_reference(make, imgs: np.ndarray, batch: int, workers: int, all_ops: bool) -> float:
    """Images/s of a DataLoader pass over the reference's AugMixDataset (workers already up)."""
    from torchvision import transforms

    pre = transforms.Compose([transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)])
    ds = make(PILImages(imgs), pre, all_ops)
    np.random.seed(0)
    ds[0]  # warm-up in this process (imports, PIL)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=False, num_workers=workers,
                                         pin_memory=torch.cuda.is_available(),
                                         persistent_workers=workers > 0)
    for _ in range(2 if workers else 1):  # a warm-up pass starts the workers, then the timed one
        t0 = time.perf_counter()
        for views, _ in loader:
            assert len(views) == 3  # clean + 2 AugMix views
    return len(imgs) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--iters", type=int, default=10, help="batches: n images = batch × iters")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    ap.add_argument("--workers", type=int, default=4, help="DataLoader workers of the reference")
    ap.add_argument("--reference", metavar="PATH",
                    help="checkout of erichson/NoisyMix (or google-research/augmix)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    make = None
    if args.reference:
        label, make = reference_dataset(args.reference)
    n = args.batch * args.iters
    imgs = images(n, 32)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(machine_line(", ".join(devices)))
    print(f"# n={n} images 32x32, batch {args.batch}; images/s = clean + 2 AugMix views per image"
          + (f"; reference: {label}, DataLoader with {args.workers} workers, PIL ops" if make
             else "; no reference timed"))
    print("| pipeline | device | all_ops | images/s |" + (" ratio |" if make else ""))
    print("|---|---|---|---:|" + ("---:|" if make else ""))
    for all_ops in (False, True):
        ref = None
        if make:
            ref = bench_reference(make, imgs, args.batch, args.workers, all_ops)
            print(f"| reference ({args.workers} workers) | cpu | {all_ops} | {ref:.0f} | 1.00 |",
                  flush=True)
        for device in devices:
            ips = bench(device, torch.from_numpy(imgs), args.batch, all_ops)
            print(f"| noisymix batched | {device} | {all_ops} | {ips:.0f} |"
                  + (f" {ips / ref:.2f} |" if ref else ""), flush=True)


if __name__ == "__main__":
    main()
