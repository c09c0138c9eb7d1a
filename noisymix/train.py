"""Training: any scheme, any registered dataset/arch, resumable, CPU and CUDA alike.

The data pipeline is batched tensor code on the training device: uint8 NHWC batches are
moved once, cropped/flipped per image with a device generator, and the scheme builds its own
views (AugMix) on the device. A training state is written atomically at every epoch end; the
same command after a crash resumes from it. The model kept is the final epoch's — never one
selected on test accuracy (the official NoisyMix script does that; we don't).
"""

from __future__ import annotations

import contextlib
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
from noisymix.augment import random_crop_flip, random_resized_crop_flip
from noisymix.checkpoint import (
    CheckpointError,
    checked_metadata,
    load_state,
    read_metadata,
    save_model,
    save_state,
    state_info,
)
from noisymix.data import ArrayDataset, dataset_info, load_dataset
from noisymix.device import resolve_device
from noisymix.errors import DivergenceError, InputError, UsageError
from noisymix.io import atomic_path, git_commit, held_folder
from noisymix.methods import check_hparams, create_scheme, scheme_class
from noisymix.models import create_model
from noisymix.progress import show_progress
from noisymix.rng import seed_for

STATE_FILE = "train_state.safetensors"
MODEL_FILE = "model.safetensors"
META_FILE = "model.json"
METRICS_FILE = "metrics.jsonl"
MAX_WIDTH = 16.0  # 16× the paper's channels: PreActResNet-18 at ~3 G parameters, past any one
#                   accelerator's training memory (a typo such as 1e6 would only crash later)
CHECK_EVERY = 50  # steps between checks for a non-finite loss (each is one device sync)


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
    # train at this side: RandomResizedCrop + flip instead of pad-crop (transfer at 224 px, as
    # the official transfer code); evaluation then applies Resize(size·8/7) + CenterCrop(size)
    image_size: int | None = None
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
        """Every value checked where it enters (`noisymix train`/`finetune` build this), before
        any folder is created; messages name the CLI flag."""
        dataset_info(self.dataset)  # raise on unknown names early
        scheme_class(self.method)
        from noisymix.models import list_archs

        if self.arch not in list_archs():
            raise UsageError(f"unknown arch {self.arch!r}; choose one of: "
                             f"{', '.join(list_archs())}")
        try:
            self.method_params = check_hparams(self.method, dict(self.method_params))
        except UsageError as e:
            raise UsageError(f"--param: {e}") from None
        _number("--width", self.width, gt=0, le=MAX_WIDTH)
        _integer("--epochs", self.epochs, ge=1)
        _integer("--batch-size", self.batch_size, ge=1)
        _number("--lr", self.lr, gt=0)
        _number("lr_min", self.lr_min, ge=0)
        _number("momentum", self.momentum, ge=0, lt=1)
        _number("--weight-decay", self.weight_decay, ge=0)
        _integer("--seed", self.seed, ge=0)
        _integer("--num-workers", self.num_workers, ge=0)
        if self.image_size is not None:
            _integer("--image-size", self.image_size, ge=8, le=1024)
        if self.train_subset is not None:
            _integer("--train-subset", self.train_subset, ge=1,
                     hint="leave it out to train on every image")
        for m in self.lr_milestones:
            _integer("--milestones", m, ge=1, le=self.epochs - 1,
                     hint=f"epochs where the lr steps, inside a run of {self.epochs}")
        self.lr_milestones = tuple(int(m) for m in self.lr_milestones)
        if list(self.lr_milestones) != sorted(set(self.lr_milestones)):
            raise UsageError(f"--milestones {','.join(map(str, self.lr_milestones))}: must be "
                             f"strictly increasing")
        _number("--gamma", self.lr_gamma, gt=0, le=1)

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
            d["init_from"] = source_hash(self.init_from)
        return json.loads(json.dumps(d, default=list))

    def config_hash(self) -> str:
        blob = json.dumps(self.resolved(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _number(flag: str, v: Any, ge: float | None = None, gt: float | None = None,
            le: float | None = None, lt: float | None = None, hint: str = "") -> None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if ok:
        ok = ((ge is None or v >= ge) and (gt is None or v > gt) and (le is None or v <= le)
              and (lt is None or v < lt))
    if not ok:
        lo = f"[{ge:g}" if ge is not None else f"({gt:g}" if gt is not None else "(-inf"
        hi = f"{le:g}]" if le is not None else f"{lt:g})" if lt is not None else "inf)"
        raise UsageError(f"{flag} {v!r}: must be a finite number in {lo}, {hi}"
                         + (f" ({hint})" if hint else ""))


def _integer(flag: str, v: Any, ge: int | None = None, le: int | None = None,
             hint: str = "") -> None:
    if isinstance(v, bool) or not isinstance(v, int) or (ge is not None and v < ge) or \
            (le is not None and v > le):
        want = (f"an integer >= {ge}" if le is None else f"an integer <= {le}" if ge is None
                else f"an integer in {ge}..{le}" if ge <= le else "left out: no value fits")
        raise UsageError(f"{flag} {v!r}: must be {want}" + (f" ({hint})" if hint else ""))


def source_hash(ckpt: str | Path) -> str:
    """What a fine-tuned run's config hash records of its source: the source's config hash,
    or for a checkpoint without one (imported weights) the sha256 of the file."""
    meta = checked_metadata(ckpt)
    if isinstance(meta.get("config_hash"), str):
        return meta["config_hash"]
    h = hashlib.sha256()
    with open(ckpt, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()[:16]



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
        order = order.to(self.images.device)  # once per epoch, not a copy per step
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            x = self.images[idx].to(self.device, non_blocking=True)
            yield x.permute(0, 3, 1, 2).float().div_(255), self.labels[idx.to(self.device)]


class FolderBatches:
    """ImageFolder training batches (RandomResizedCrop + flip in the loader workers)."""

    def __init__(self, folder, batch_size: int, device: torch.device, seed: int,
                 num_workers: int, rank: int = 0, world: int = 1,
                 image_size: int | None = None) -> None:
        self.ds = folder.torch_dataset(train=True, image_size=image_size)
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


def train(cfg: TrainConfig, out_dir: str | Path, force: bool = False) -> dict:
    """Train ``cfg`` into ``out_dir``; resume from its training state; return model metadata.

    Before any work: the values (``TrainConfig``), the source checkpoint of a fine-tuning, the
    device and the output location are checked, and a folder created here is removed again if
    the run fails before writing anything into it. While it runs, the folder is locked (a
    second writer gets ``BusyError``). A folder holding another configuration's run is
    refused, unless ``force`` (then its run files are deleted and training starts anew).
    """
    from noisymix import distributed as dist

    out = Path(out_dir)
    chash = cfg.config_hash()  # also checks the source checkpoint of a fine-tuning
    # an explicit device is checked now; "auto" leases a GPU only when there is work to do
    device = resolve_device(cfg.device) if cfg.device != "auto" else None
    rank = int(os.environ.get("RANK", "0")) if dist.is_distributed() else 0
    with held_folder(out) if rank == 0 else contextlib.nullcontext():
        if rank == 0:
            _prepare_folder(out, chash, force)
        if device is None:
            device = resolve_device("auto")
        rank, world = dist.rank_and_world(device)
        dist.barrier()  # rank 0 has checked (or cleared) the folder
        done = _finished(out, chash)
        if done is not None:
            return done
        return _train(cfg, out, chash, device, rank, world)


def _train(cfg: TrainConfig, out: Path, chash: str, device: torch.device, rank: int,
           world: int) -> dict:
    from noisymix import distributed as dist

    model_path, state_path = out / MODEL_FILE, out / STATE_FILE
    torch.manual_seed(seed_for(cfg.seed, "init"))  # weight init is the only global draw
    train_set = load_dataset(cfg.dataset, "train", cfg.data_root)
    # --batch-size is the global batch: under torchrun each of the world's ranks draws its
    # share, so the recipe does not change with the number of processes.
    if cfg.batch_size % world:
        raise UsageError(f"--batch-size {cfg.batch_size} is the global batch and must divide "
                         f"by the {world} processes; choose a multiple of {world}")
    per_rank = cfg.batch_size // world
    if isinstance(train_set, ArrayDataset):
        if cfg.train_subset is not None:
            n = min(cfg.train_subset, len(train_set))
            train_set = dataclasses.replace(train_set, images=train_set.images[:n],
                                            labels=train_set.labels[:n])
        _check_labels(cfg, train_set)
        batches = ArrayBatches(train_set, per_rank, device, cfg.seed, rank, world)
        crop = True
    else:
        if cfg.train_subset is not None:  # the first N files in ImageFolder order
            train_set = dataclasses.replace(train_set, samples=train_set.samples[:cfg.train_subset])
        batches = FolderBatches(train_set, per_rank, device, cfg.seed, cfg.num_workers,
                                rank, world, cfg.image_size)
        crop = False
    classes = train_set.classes

    model = build_model(cfg, len(classes))
    extra: dict[str, Any] = {"world_size": world, "per_rank_batch": per_rank}
    if cfg.image_size is not None:  # what evaluation must resize inputs to
        extra["input_size"] = cfg.image_size
    if cfg.init_from is not None:
        from noisymix.finetune import load_backbone

        # weights overwritten below when resuming; the metadata is kept
        extra.update({**load_backbone(model, cfg.init_from), "finetune_method": cfg.method})
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
    if state_path.exists():  # its config hash was checked by _prepare_folder
        state = load_state(state_path)
        try:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            scheme.load_state_dict(state["scheme"])
            aug_gen.set_state(state["augment_rng"])
        except Exception as e:  # noqa: BLE001 — any mismatch means the file is not this run's
            raise CheckpointError(
                f"{state_path} does not fit this run ({type(e).__name__}: "
                f"{str(e).splitlines()[0][:160]}); delete it (or pass --force) to start the "
                f"run over") from None
        start_epoch = state["epoch"]
        if start_epoch > cfg.epochs:
            raise CheckpointError(f"{state_path} records epoch {start_epoch} of a run of "
                                  f"{cfg.epochs}; delete it (or pass --force) to start over")
    if rank == 0:
        _truncate_metrics(out / METRICS_FILE, start_epoch)

    net = dist.wrap(model, device)
    progress = show_progress(cfg.progress) and rank == 0
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_cuda and cfg.amp)
    for epoch in range(start_epoch, cfg.epochs):
        net.train()
        t0, seen, loss_sum = time.perf_counter(), 0, torch.zeros((), device=device)
        # per-step finiteness, recorded on the device and read every CHECK_EVERY steps, so
        # that the check costs no host-device sync per step
        finite = torch.ones(len(batches), dtype=torch.bool, device=device)
        checked = 0
        bar = _bar(batches.epoch(epoch), len(batches), f"epoch {epoch + 1}/{cfg.epochs}",
                   progress)
        for step, (x, y) in enumerate(bar):
            if crop and cfg.image_size is not None:
                x = random_resized_crop_flip(x, cfg.image_size, aug_gen)
            elif crop:
                x = random_crop_flip(x, aug_gen)
            if use_cuda and cfg.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast:
                loss = scheme(net, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            finite[step] = torch.isfinite(loss.detach())
            loss_sum += loss.detach() * len(y)
            seen += len(y)
            if step + 1 - checked >= CHECK_EVERY:
                _check_finite(finite, checked, step + 1, epoch, len(batches), state_path)
                checked = step + 1
        _check_finite(finite, checked, len(batches), epoch, len(batches), state_path)
        _check_weights(model, epoch, state_path)
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


# --- divergence -------------------------------------------------------------------------------


def _any_rank(flag: bool, device: torch.device) -> bool:
    """``flag`` of any rank (under DDP every rank must stop at the same step)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return flag
    t = torch.tensor(int(flag), device=device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t)


def _diverged(what: str, epoch: int, state_path: Path) -> DivergenceError:
    if state_path.exists():
        kept = (f"the last good state (epoch {state_info(state_path)['epoch']}) stays in "
                f"{state_path}")
    else:
        kept = "no state was kept (it diverged in the first epoch of the run)"
    return DivergenceError(
        f"training diverged: {what} of epoch {epoch + 1}; no model was written and {kept}. "
        f"Lower --lr (a new configuration: use another --out, or --force)")


def _check_finite(finite: torch.Tensor, lo: int, hi: int, epoch: int, steps: int,
                  state_path: Path) -> None:
    window = finite[lo:hi]
    bad = not bool(window.all())
    if _any_rank(bad, finite.device):
        at = lo + int((~window).nonzero()[0]) + 1 if bad else lo + 1
        raise _diverged(f"non-finite loss at step {at} of {steps}", epoch, state_path)


def _check_weights(model: nn.Module, epoch: int, state_path: Path) -> None:
    tensors = [t for t in model.state_dict().values() if t.is_floating_point()]
    bad = not bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())
    if _any_rank(bad, tensors[0].device):
        raise _diverged("non-finite weights at the end", epoch, state_path)


# --- the run folder ---------------------------------------------------------------------------


def _run_hashes(out: Path) -> dict[Path, str | None]:
    """{file: its config hash} for the run files in ``out`` (model, metadata, train state)."""
    found: dict[Path, str | None] = {}
    meta_path, model_path, state_path = out / META_FILE, out / MODEL_FILE, out / STATE_FILE
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            found[meta_path] = meta.get("config_hash") if isinstance(meta, dict) else None
        except ValueError as e:
            raise CheckpointError(f"{meta_path} is damaged ({e}); delete it (or pass --force) "
                                  f"to train anew") from None
    if model_path.exists():
        try:
            found[model_path] = read_metadata(model_path).get("config_hash")
        except CheckpointError as e:
            raise CheckpointError(f"{e}; delete it (or pass --force) to train anew") from None
    if state_path.exists():
        found[state_path] = state_info(state_path)["config_hash"]
    return found


def _prepare_folder(out: Path, chash: str, force: bool) -> None:
    """Refuse a folder holding another configuration's run (``force``: delete its run files)."""
    files = (out / MODEL_FILE, out / META_FILE, out / STATE_FILE, out / METRICS_FILE)
    if force:
        for f in files:
            f.unlink(missing_ok=True)
        return
    for path, theirs in _run_hashes(out).items():
        if theirs != chash:
            raise CheckpointError(
                f"{out} already holds a run of another configuration ({path.name}: config "
                f"hash {theirs}, this run: {chash}); use another --out, or --force to delete "
                f"that run and train anew")


def _finished(out: Path, chash: str) -> dict | None:
    """The metadata of a finished run of ``chash`` in ``out`` (checked by _prepare_folder)."""
    meta_path, model_path = out / META_FILE, out / MODEL_FILE
    if not (model_path.exists() and meta_path.exists()):
        return None
    meta = json.loads(meta_path.read_text())
    return meta if meta.get("config_hash") == chash else None


def _check_labels(cfg: TrainConfig, data: ArrayDataset) -> None:
    import numpy as np

    y, n = data.labels, len(data.classes)
    if not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"{cfg.dataset} training labels are {y.dtype}, not integers; the "
                         f"dataset files are damaged (prepare them again)")
    if len(y) and (y.min() < 0 or y.max() >= n):
        raise InputError(f"{cfg.dataset} training labels span {y.min()}..{y.max()} but the "
                         f"dataset has {n} classes (0..{n - 1}); the dataset files are damaged "
                         f"(prepare them again)")


def _bar(it, total: int, desc: str, enabled: bool):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, leave=False, dynamic_ncols=True)


def _read_metrics(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        if all(isinstance(r, dict) and isinstance(r.get("epoch"), int) for r in records):
            return records
        why = "a record without an epoch"
    except ValueError as e:
        why = str(e)
    raise CheckpointError(f"{path} is damaged ({why}); delete it (or pass --force) to start "
                          f"the run over")


def _append_metrics(path: Path, record: dict) -> None:
    lines = _read_metrics(path) + [record]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in lines))


def _truncate_metrics(path: Path, epochs_done: int) -> None:
    """Drop records of epochs after the resumed state (they were written by a killed run)."""
    if not path.exists():
        return
    lines = [r for r in _read_metrics(path) if r["epoch"] <= epochs_done]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in lines))


__all__ = ["TrainConfig", "train"]
