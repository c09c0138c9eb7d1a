"""Training: any scheme, any registered dataset/arch, resumable, CPU and CUDA alike.

The data pipeline is batched tensor code on the training device: uint8 NHWC batches are
moved once, cropped/flipped per image with a device generator, and the scheme builds its own
views (AugMix) on the device. A training state is written atomically at every epoch end; the
same command after a crash resumes from it. The model kept is the final epoch's — never one
selected on test accuracy (the official NoisyMix script does that; we don't).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

import noisymix
from noisymix.augment import random_crop_flip
from noisymix.checkpoint import CheckpointError, load_state, save_model, save_state
from noisymix.data import ArrayDataset, dataset_info, load_dataset
from noisymix.device import resolve_device
from noisymix.io import atomic_path, git_commit
from noisymix.methods import create_scheme, scheme_class
from noisymix.models import create_model
from noisymix.rng import seed_for

STATE_FILE = "train_state.safetensors"
MODEL_FILE = "model.safetensors"
METRICS_FILE = "metrics.jsonl"


@dataclasses.dataclass
class TrainConfig:
    """Everything that defines a training run (runtime settings are the last block)."""

    dataset: str
    arch: str = "preactresnet18"
    width: float = 1.0               # channel multiplier of the architecture
    method: str = "noisymix"
    method_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    epochs: int = 200
    batch_size: int = 128
    lr: float = 0.1                  # peak learning rate (SGD)
    lr_min: float = 1e-6             # cosine schedule, per step, down to this
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    seed: int = 0
    train_subset: int | None = None  # first-N training images (quick runs); None = all
    # fine-tuning (noisymix.finetune): start from a checkpoint's weights, all but its head
    init_from: str | None = None     # source model.safetensors; hashed by its config hash
    lr_milestones: tuple[int, ...] = ()  # epochs; non-empty = step schedule instead of cosine
    lr_gamma: float = 0.1            # step schedule: lr × gamma at each milestone
    # runtime settings: do not change results' meaning, excluded from the config hash
    data_root: str | None = None
    device: str = "auto"
    amp: bool = True                 # bf16 autocast on CUDA only
    channels_last: bool = True       # on CUDA only
    num_workers: int = 4             # ImageFolder decoding workers
    progress: bool | None = None     # None: a bar only on a terminal and outside CI

    RUNTIME = ("data_root", "device", "amp", "channels_last", "num_workers", "progress")

    def __post_init__(self) -> None:
        dataset_info(self.dataset)  # raise on unknown names early
        scheme_class(self.method)
        from noisymix.models import list_archs

        if self.arch not in list_archs():
            raise ValueError(f"unknown arch {self.arch!r}; choose one of: "
                             f"{', '.join(list_archs())}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        self.lr_milestones = tuple(int(m) for m in self.lr_milestones)

    def resolved(self) -> dict[str, Any]:
        """The config that defines results: method defaults filled in, runtime keys dropped."""
        d = dataclasses.asdict(self)
        for k in self.RUNTIME:
            d.pop(k)
        d["method_params"] = create_scheme(self.method, seed=self.seed,
                                           **self.method_params).hparams()
        # The fine-tuning keys enter the hash only when used, so that plain training runs
        # keep their hashes; a source checkpoint counts by its config hash, not its path.
        for key, default in (("init_from", None), ("lr_milestones", ()), ("lr_gamma", 0.1)):
            if d[key] == default or (key == "lr_gamma" and not self.lr_milestones):
                d.pop(key)
        if self.init_from is not None:
            from noisymix.checkpoint import read_metadata

            d["init_from"] = read_metadata(self.init_from)["config_hash"]
        return json.loads(json.dumps(d, default=list))

    def config_hash(self) -> str:
        blob = json.dumps(self.resolved(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def show_progress(flag: bool | None) -> bool:
    if flag is not None:
        return flag
    return sys.stderr.isatty() and not os.environ.get("CI")


class ArrayBatches:
    """Epoch-wise shuffled uint8 batches of an ``ArrayDataset`` as float [0,1] on ``device``.

    Shuffling depends only on (seed, epoch), so a resumed run sees the same batches; on CUDA
    the whole uint8 set is moved to the GPU once (CIFAR: 150 MB).
    """

    def __init__(self, data: ArrayDataset, batch_size: int, device: torch.device, seed: int,
                 rank: int = 0, world: int = 1) -> None:
        self.images = torch.from_numpy(data.images)
        if device.type == "cuda":
            self.images = self.images.to(device)
        self.labels = torch.from_numpy(data.labels).to(device)
        self.batch_size, self.device, self.seed = batch_size, device, seed
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return math.ceil(len(self.labels) // self.world / self.batch_size)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(seed_for(self.seed, "shuffle", epoch))
        order = _shard(torch.randperm(len(self.labels), generator=g), self.rank, self.world)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size].to(self.images.device)
            x = self.images[idx].to(self.device, non_blocking=True)
            yield x.permute(0, 3, 1, 2).float().div_(255), self.labels[idx.to(self.device)]


class FolderBatches:
    """ImageFolder training batches (RandomResizedCrop + flip in the loader workers)."""

    def __init__(self, folder, batch_size: int, device: torch.device, seed: int,
                 num_workers: int, rank: int = 0, world: int = 1) -> None:
        self.ds = folder.torch_dataset(train=True)
        self.batch_size, self.device, self.seed = batch_size, device, seed
        self.num_workers, self.rank, self.world = num_workers, rank, world

    def __len__(self) -> int:
        return math.ceil(len(self.ds) // self.world / self.batch_size)

    def epoch(self, epoch: int):
        g = torch.Generator().manual_seed(seed_for(self.seed, "shuffle", epoch))
        order = _shard(torch.randperm(len(self.ds), generator=g), self.rank, self.world).tolist()
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(self.ds, order), batch_size=self.batch_size,
            num_workers=self.num_workers, pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(seed_for(self.seed, "workers", epoch)))
        for x, y in loader:
            yield (x.to(self.device, non_blocking=True).float().div_(255),
                   y.to(self.device, non_blocking=True))


def _shard(order: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """Every world-th index from ``rank``, the same count on every rank.

    Under DDP each step is a collective: a rank with one batch more would wait forever, so the
    last ``len % world`` images of the shuffled order are left out (other ones each epoch).
    """
    usable = len(order) - len(order) % world
    return order[:usable][rank::world]


def build_model(cfg: TrainConfig, num_classes: int) -> nn.Module:
    info = dataset_info(cfg.dataset)
    return create_model(cfg.arch, num_classes, cfg.width, info.mean, info.std)


def metadata(cfg: TrainConfig, classes: list[str], epochs_done: int, extra: dict) -> dict:
    import torchvision

    info = dataset_info(cfg.dataset)
    return {
        "format": "noisymix-checkpoint/1",
        "arch": cfg.arch, "width": cfg.width, "num_classes": len(classes),
        "classes": list(classes), "dataset": cfg.dataset, "image_size": info.image_size,
        "mean": list(info.mean), "std": list(info.std),
        "method": cfg.method, "config": cfg.resolved(), "config_hash": cfg.config_hash(),
        "seed": cfg.seed, "epochs": epochs_done,
        "versions": {"noisymix": noisymix.__version__, "torch": torch.__version__,
                     "torchvision": torchvision.__version__},
        "git_commit": git_commit(),
        **extra,
    }


def train(cfg: TrainConfig, out_dir: str | Path) -> dict:
    """Train ``cfg`` into ``out_dir``; resume from its training state; return model metadata."""
    from noisymix import distributed as dist

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path, state_path = out / MODEL_FILE, out / STATE_FILE
    chash = cfg.config_hash()
    done = _finished(model_path, chash)
    if done is not None:
        return done

    device = resolve_device(cfg.device)
    rank, world = dist.rank_and_world(device)
    torch.manual_seed(seed_for(cfg.seed, "init"))  # weight init is the only global draw
    train_set = load_dataset(cfg.dataset, "train", cfg.data_root)
    if isinstance(train_set, ArrayDataset):
        if cfg.train_subset:
            n = min(cfg.train_subset, len(train_set))
            train_set = dataclasses.replace(train_set, images=train_set.images[:n],
                                            labels=train_set.labels[:n])
        batches = ArrayBatches(train_set, cfg.batch_size, device, cfg.seed, rank, world)
        crop = True
    else:
        batches = FolderBatches(train_set, cfg.batch_size, device, cfg.seed, cfg.num_workers,
                                rank, world)
        crop = False
    classes = train_set.classes

    model = build_model(cfg, len(classes))
    extra: dict[str, Any] = {}
    if cfg.init_from is not None:
        from noisymix.finetune import load_backbone

        # weights overwritten below when resuming; the metadata is kept
        extra = {**load_backbone(model, cfg.init_from), "finetune_method": cfg.method}
    model = model.to(device)
    use_cuda = device.type == "cuda"
    if use_cuda and cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    scheme = create_scheme(cfg.method, seed=seed_for(cfg.seed, "scheme", rank),
                           **cfg.method_params)
    decay, no_decay = _param_groups(model)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay},
                           {"params": no_decay, "weight_decay": cfg.weight_decay}],
                          lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    total_steps = cfg.epochs * len(batches)
    if cfg.lr_milestones:  # step schedule (fine-tuning), stepped per batch like the cosine
        steps_per_epoch, milestones = len(batches), sorted(cfg.lr_milestones)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: cfg.lr_gamma ** sum(step // steps_per_epoch >= m
                                                  for m in milestones))
    else:
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps,
                                                           eta_min=cfg.lr_min)
    aug_gen = torch.Generator(device=device).manual_seed(seed_for(cfg.seed, "augment", rank))

    start_epoch = 0
    if state_path.exists():
        state = load_state(state_path)
        if state["config_hash"] != chash:
            raise CheckpointError(
                f"{out} holds a training state for a different configuration "
                f"(hash {state['config_hash']} vs {chash}); use another --out or delete it")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scheme.load_state_dict(state["scheme"])
        aug_gen.set_state(state["augment_rng"])
        start_epoch = state["epoch"]
    if rank == 0:
        _truncate_metrics(out / METRICS_FILE, start_epoch)

    net = dist.wrap(model, device)
    progress = show_progress(cfg.progress) and rank == 0
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_cuda and cfg.amp)
    for epoch in range(start_epoch, cfg.epochs):
        net.train()
        t0, seen, loss_sum = time.perf_counter(), 0, torch.zeros((), device=device)
        bar = _bar(batches.epoch(epoch), len(batches), f"epoch {epoch + 1}/{cfg.epochs}",
                   progress)
        for x, y in bar:
            if crop:
                x = random_crop_flip(x, aug_gen)
            if use_cuda and cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast:
                loss = scheme(net, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach() * len(y)
            seen += len(y)
        seconds = time.perf_counter() - t0
        record = {"epoch": epoch + 1, "loss": float(loss_sum) / max(seen, 1),
                  "lr": sched.get_last_lr()[0], "seconds": round(seconds, 3),
                  "images_per_s": round(seen / seconds, 1) if seconds > 0 else None}
        if rank == 0:
            _append_metrics(out / METRICS_FILE, record)
            save_state(state_path, {
                "config_hash": chash, "epoch": epoch + 1, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "scheme": scheme.state_dict(), "augment_rng": aug_gen.get_state()})
            if not progress:
                print(json.dumps(record), file=sys.stderr, flush=True)
        dist.barrier()

    meta = metadata(cfg, classes, cfg.epochs,
                    {**extra, "train_metrics": _read_metrics(out / METRICS_FILE)})
    if rank == 0:
        save_model(model_path, model, meta)
        state_path.unlink(missing_ok=True)
    dist.barrier()
    return meta


def _param_groups(model: nn.Module):
    # The official code decays every parameter (BN and biases included); keep that.
    return [p for p in model.parameters()], []


def _finished(model_path: Path, chash: str) -> dict | None:
    meta_path = model_path.with_suffix(".json")
    if not (model_path.exists() and meta_path.exists()):
        return None
    meta = json.loads(meta_path.read_text())
    if meta.get("config_hash") != chash:
        raise CheckpointError(
            f"{model_path.parent} already holds a model trained with another configuration "
            f"(hash {meta.get('config_hash')} vs {chash}); use another --out or delete it")
    return meta


def _bar(it, total: int, desc: str, enabled: bool):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, leave=False, dynamic_ncols=True)


def _read_metrics(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _append_metrics(path: Path, record: dict) -> None:
    lines = _read_metrics(path) + [record]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in lines))


def _truncate_metrics(path: Path, epochs_done: int) -> None:
    """Drop records of epochs after the resumed state (they were written by a killed run)."""
    lines = [r for r in _read_metrics(path) if r["epoch"] <= epochs_done]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in lines))


__all__ = ["TrainConfig", "train"]
