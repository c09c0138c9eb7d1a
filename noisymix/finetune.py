"""Transfer learning (NoisyMix, arXiv:2202.01263, Table 5; erichson/NoisyMix
``transfer_learning/``): fine-tune a trained model on a target dataset.

As the paper's transfer study does (via madrylab's ``robustness`` library, settings in
``transfer_learning/parameters.csv``): the source model's classifier head is replaced by a
fresh one sized for the target's classes and ALL layers are fine-tuned with SGD (momentum 0.9,
no Nesterov), lr 0.001, weight decay 5e-4, batch 64, and a step schedule (lr × 0.1 every third
of the run: 150 epochs with steps at 50 and 100). The loss is plain cross-entropy on random
crop (pad 4) + horizontal flip batches (the ``erm`` scheme), whatever method trained the
source. # not in paper: its transfer targets are ImageNet-scale sets; the quick profile uses
digits → fashion-mnist.

This is ``noisymix.train.train`` with ``init_from`` (start from the source's weights, all but
the head) and ``lr_milestones`` set, so fine-tuning resumes and writes atomically exactly like
training. The input normalisation is the target dataset's. The checkpoint's metadata records
the source checkpoint and its config hash under ``source``; its ``method`` names the source's
(pre-training) method — the quantity Table 5 compares — and ``finetune_method`` the loss used
here.
"""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file
from torch import nn

from noisymix.checkpoint import CheckpointError, checked_metadata
from noisymix.methods.hooks import _unwrap


def head_name(model: nn.Module) -> str:
    """Qualified name of the classifier head: the last ``nn.Linear`` of the model."""
    names = [n for n, m in _unwrap(model).named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError(f"{type(model).__name__} has no nn.Linear classifier head")
    return names[-1]


def load_backbone(model: nn.Module, src_ckpt: str | Path) -> dict:
    """Copy every weight of ``src_ckpt`` into ``model`` except the head and normalisation.

    Returns metadata to record in the fine-tuned checkpoint.
    """
    from noisymix.train import source_hash

    src_ckpt = Path(src_ckpt)
    meta = checked_metadata(src_ckpt)
    model = _unwrap(model)
    head = head_name(model)
    skip = (f"{head}.", "normalize.")  # fresh head; the target's input statistics
    src = {k: v for k, v in load_file(str(src_ckpt)).items() if not k.startswith(skip)}
    target = model.state_dict()
    expected = {k for k in target if not k.startswith(skip)}
    bad = sorted(k for k in src if k in target and src[k].shape != target[k].shape)
    if set(src) != expected or bad:
        raise CheckpointError(
            f"{src_ckpt} ({meta.get('arch')} × {meta.get('width')}) does not fit the model to "
            f"fine-tune: missing {sorted(expected - set(src))[:3]}, unexpected "
            f"{sorted(set(src) - expected)[:3]}, shape mismatch {bad[:3]}")
    model.load_state_dict(src, strict=False)
    # imported checkpoints (noisymix import) carry no config hash: their file's sha256 counts
    return {"method": meta.get("method"),
            "source": {"checkpoint": str(src_ckpt), "config_hash": source_hash(src_ckpt),
                       "dataset": meta.get("dataset"), "method": meta.get("method"),
                       "seed": meta.get("seed"), "head": head}}


def default_milestones(epochs: int) -> tuple[int, ...]:
    """Steps at 1/3 and 2/3 of the run (the paper: 150 epochs, step_lr 50)."""
    return tuple(sorted({m for m in (epochs // 3, 2 * epochs // 3) if 0 < m < epochs}))


def finetune(src_ckpt: str | Path, target_dataset: str, out_dir: str | Path, epochs: int,
             lr: float = 0.001, weight_decay: float = 5e-4, batch_size: int = 64,
             seed: int = 0, train_subset: int | None = None,
             milestones: tuple[int, ...] | None = None, gamma: float = 0.1,
             data_root: str | None = None, device: str = "auto",
             progress: bool | None = None, force: bool = False,
             image_size: int | None = None) -> dict:
    """Fine-tune ``src_ckpt`` (all layers, new head) on ``target_dataset`` into ``out_dir``.

    ``milestones`` (epochs) default to 1/3 and 2/3 of ``epochs``. Returns the metadata of
    ``out_dir/model.safetensors``; rerunning resumes (or returns at once when done);
    ``force`` starts over in a folder that holds another run (see ``noisymix.train.train``).
    ``image_size``: train at that side (RandomResizedCrop + flip; 224 in the official transfer
    code) and evaluate through Resize(size·8/7) + CenterCrop(size).
    """
    from noisymix.train import TrainConfig, train

    meta = checked_metadata(src_ckpt)
    cfg = TrainConfig(
        dataset=target_dataset, arch=meta["arch"], width=float(meta["width"]), method="erm",
        epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
        momentum=0.9, nesterov=False, seed=seed, train_subset=train_subset,
        init_from=str(src_ckpt),
        lr_milestones=default_milestones(epochs) if milestones is None else tuple(milestones),
        lr_gamma=gamma, data_root=data_root, device=device, progress=progress,
        image_size=image_size)
    return train(cfg, out_dir, force=force)


__all__ = ["finetune", "load_backbone", "head_name", "default_milestones"]
