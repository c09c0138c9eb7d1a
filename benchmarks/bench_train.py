"""Training throughput per scheme: images/s of one full training step, data pipeline included.

A step = uint8 NHWC batch → device → crop/flip → scheme (AugMix views, mixing, noise) →
forward/backward → SGD step (bf16 autocast and channels-last on CUDA, fp32 on the CPU). On a
GPU the uint8 images sit on the device, as noisymix's training loader keeps them. Timed with
CUDA events on a GPU, perf_counter on the CPU.

With ``--reference PATH`` (a checkout of erichson/NoisyMix) the official NoisyMix step is timed
first on the same device, same batch size and images: its ``train()`` from ``cifar.py``
(imported without running its main body) with the settings of its README command (AugMix + JSD,
α = 1, manifold mixup at k ∈ {0..3}, additive 0.5, multiplicative 0.5, sparsity 0.65), its
PreActResNet18 with its own ``width`` option set to --width, its SGD (lr 0.1, momentum 0.9,
weight decay 5e-4, Nesterov) and LambdaLR schedule, fed by its PIL pipeline (RandomHorizontalFlip
+ RandomCrop(32, padding=4) → its ``AugMixDataset``: clean + 2 AugMix views) through a DataLoader
with --workers workers, fp32 as its script runs. Its hard-coded ``.cuda()`` / CUDA tensor calls
are made CPU no-ops on a CPU device (only while the reference runs); ``np.int`` (gone from numpy)
is shimmed in its module. Both: --warmup steps, then --steps timed steps.

    uv run python benchmarks/bench_train.py --arch preactresnet18 --width 1 --batch-size 128
    uv run python benchmarks/bench_train.py --batch-size 128 --steps 20 --workers 4 \
        --reference ~/src/NoisyMix
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
import warnings

import numpy as np
import torch
from _reference import (
    checkout,
    cuda_calls_on_cpu,
    load_definitions,
    machine_line,
    noisymix_args,
    numpy_with,
    stub_missing,
)
from bench_augmix import PILImages

from noisymix.augment import random_crop_flip
from noisymix.device import resolve_device
from noisymix.methods import create_scheme, list_schemes
from noisymix.models import create_model


def bench_scheme(name: str, args, device: torch.device, images: np.ndarray,
                 labels: np.ndarray) -> float:
    model = create_model(args.arch, 10, args.width).to(device)
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    if args.compile:  # the net only: the schemes' stage hooks stay on the wrapper's modules
        model.net = torch.compile(model.net)
    scheme = create_scheme(name, seed=0)
    gen = torch.Generator(device=device).manual_seed(0)
    images, labels = torch.from_numpy(images), torch.from_numpy(labels)
    if cuda:
        images, labels = images.to(device), labels.to(device)
    nb = len(images) // args.batch_size

    def step(i: int) -> None:
        sl = slice((i % nb) * args.batch_size, (i % nb + 1) * args.batch_size)
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
        for i in range(args.warmup, args.warmup + args.steps):
            step(i)
        end.record()
        torch.cuda.synchronize()
        seconds = start.elapsed_time(end) / 1000
    else:
        t0 = time.perf_counter()
        for i in range(args.warmup, args.warmup + args.steps):
            step(i)
        seconds = time.perf_counter() - t0
    return args.steps * args.batch_size / seconds


def load_reference(path: str):
    """erichson/NoisyMix's cifar.py (its definitions: train(), its imports) with its README args."""
    root = checkout(path, "--reference", "erichson/NoisyMix", "cifar.py", "aug_utils.py",
                    "src/noisy_mixup.py", "src/cifar_models/preresnet.py")
    sys.path.insert(0, str(root))
    stub_missing("robustness.tools.folder")  # src/get_data.py's ImageNet folders, unused here
    cifar = load_definitions(root / "cifar.py", "noisymix_reference_cifar", args=noisymix_args())
    sys.modules["src.noisy_mixup"].np = numpy_with(int=int)  # np.int left numpy in 1.24
    return cifar


def bench_reference(cifar, args, device: torch.device, images: np.ndarray,
                    labels: np.ndarray) -> float:
    """Images/s of the official training step: cifar.train() over its DataLoader's batches."""
    from src.cifar_models.preresnet import PreActResNet18
    from torchvision import transforms

    np.random.seed(0)
    torch.manual_seed(0)
    warnings.filterwarnings("ignore", "Converting a tensor with requires_grad=True to a scalar")
    cuda = device.type == "cuda"
    with cuda_calls_on_cpu(not cuda):
        net = PreActResNet18(num_classes=10, width=args.width)
        if cuda:  # as its script: DataParallel over the visible GPUs
            net = torch.nn.DataParallel(net).cuda()
        opt = torch.optim.SGD(net.parameters(), 0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
        total = args.warmup + args.steps
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: cifar.get_lr(step, total, 1, 1e-6 / 0.1))
        crop_flip = transforms.Compose([transforms.RandomHorizontalFlip(),
                                        transforms.RandomCrop(32, padding=4)])
        pre = transforms.Compose([transforms.ToTensor(),
                                  transforms.Normalize([0.5] * 3, [0.5] * 3)])
        data = cifar.AugMixDataset(PILImages(images, labels, crop_flip), pre, cifar.args.jsd,
                                   cifar.args)
        loader = torch.utils.data.DataLoader(data, batch_size=args.batch_size, shuffle=True,
                                             num_workers=args.workers, pin_memory=cuda)
        batches = iter(loader)
        cifar.train(net, itertools.islice(batches, args.warmup), opt, sched)
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        cifar.train(net, itertools.islice(batches, args.steps), opt, sched)
        if cuda:
            torch.cuda.synchronize()
        return args.steps * args.batch_size / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="preactresnet18")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    p.add_argument("--schemes", nargs="*",
                   help="default: all; with --reference: noisymix")
    p.add_argument("--reference", metavar="PATH", help="checkout of erichson/NoisyMix")
    p.add_argument("--workers", type=int, default=4, help="DataLoader workers of the reference")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the network (throughput only: compiled NoisyMix steps "
                        "do not match eager ones, see benchmarks/check_compile.py)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.reference and (args.arch != "preactresnet18" or args.size != 32):
        p.error("--reference: the official step is timed for --arch preactresnet18 at --size 32")
    cifar = load_reference(args.reference) if args.reference else None
    schemes = args.schemes or (["noisymix"] if cifar else list_schemes())
    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    n = args.batch_size * (args.warmup + args.steps)
    images = rng.integers(0, 256, (n, args.size, args.size, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, n)
    print(machine_line(device))
    print(f"# {args.arch} width {args.width}, batch {args.batch_size}, {args.size}px, "
          f"{args.warmup} warm-up + {args.steps} timed steps; images/s of full training steps")
    if cifar:
        print(f"# reference: {args.reference} cifar.py train(), its PreActResNet18(width="
              f"{args.width:g}), fp32, PIL AugMix via DataLoader({args.workers} workers); "
              "noisymix: "
              f"{'bf16 autocast' if device.type == 'cuda' else 'fp32'}, batched on {device}")
    print("| implementation | images/s |" + (" ratio |" if cifar else ""))
    print("|---|---:|" + ("---:|" if cifar else ""))
    ref = None
    if cifar:
        ref = bench_reference(cifar, args, device, images, labels)
        print(f"| reference NoisyMix | {ref:.1f} | 1.00 |", flush=True)
    for name in schemes:
        ips = bench_scheme(name, args, device, images, labels)
        ratio = "" if not ref else f" {ips / ref:.2f} |" if name == "noisymix" else " – |"
        print(f"| noisymix `{name}` | {ips:.1f} |{ratio}", flush=True)


if __name__ == "__main__":
    main()
