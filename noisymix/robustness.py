"""Evaluate a checkpoint on every benchmark in one call → tidy rows (one per model × benchmark
× corruption × severity × metric).

Benchmarks: ``clean`` (the checkpoint's test set, with calibration), -C sets in the CIFAR
layout (generated or released) or the ImageNet-C folder tree, -P sets (CIFAR npy or ImageNet-P
videos), ImageNet-R (logits restricted to its 200 classes), and FGSM at a given ε. Reads are
batched and memory-mapped; transforms are deterministic (already-sized -C/-P images are never
resized or cropped). Aggregates use the 15 test corruptions unless the 4 extra are asked for;
every row records its corruption set and image count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
import torch

from noisymix import vocab
from noisymix.benchmarks.readers import CifarC, CifarP
from noisymix.checkpoint import load_model
from noisymix.data import ArrayDataset, load_dataset
from noisymix.device import resolve_device
from noisymix.evaluate import accuracy, iter_batches, predict_logits
from noisymix.metrics import calibration, corruption as cmetrics, stability
from noisymix.vocab import (ALL_CORRUPTIONS, ALL_PERTURBATIONS, EXTRA_CORRUPTIONS,
                            NOISE_CORRUPTIONS, NOISE_PERTURBATIONS, PERTURBATIONS,
                            TEST_CORRUPTIONS)

COLUMNS = list(vocab.COLUMNS)  # a list, as pandas and the tests compare it


class Rows:
    """Collects result rows that share the model's identity columns."""

    def __init__(self, run: str, meta: dict, kind: str | None = None,
                 ablation_cell: str = "") -> None:
        """``kind``: main / ablation / transfer (default: transfer for a fine-tuned checkpoint,
        else main); ``ablation_cell``: the Table 4 cell name of an ablation run."""
        source = meta.get("source") or {}
        kind = kind or ("transfer" if source else "main")
        if kind not in vocab.RUN_KINDS:
            raise ValueError(f"--kind {kind!r}: choose one of {', '.join(vocab.RUN_KINDS)}")
        if (kind == "ablation") != bool(ablation_cell):
            raise ValueError("--ablation-cell names the cell of an ablation run, and only that")
        hparams = meta.get("config", {}).get("method_params", {})
        switches = {k: bool(hparams.get(k, True)) if meta["method"] == "noisymix" else False
                    for k in vocab.SWITCHES}
        self.base = {"run": run, "dataset": meta["dataset"], "arch": meta["arch"],
                     "width": float(meta["width"]), "method": meta["method"],
                     "seed": int(meta.get("seed", 0)), "config_hash": meta.get("config_hash", ""),
                     "kind": kind, "ablation_cell": ablation_cell,
                     "transfer_source": source.get("dataset", "") if kind == "transfer" else "",
                     **switches}
        self.rows: list[dict] = []

    def add(self, benchmark: str, metric: str, value: float, n: int, corruption: str = "",
            severity: int = 0, corruption_set: str = "") -> None:
        self.rows.append({**self.base, "benchmark": benchmark, "corruption": corruption,
                          "severity": int(severity), "metric": metric, "value": float(value),
                          "corruption_set": corruption_set, "n_images": int(n)})

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=COLUMNS)


def _calibration_rows(rows: Rows, benchmark: str, logits: torch.Tensor, labels, corruption="",
                      corruption_set="") -> None:
    conf, correct = calibration.confidence_and_correct(logits, torch.as_tensor(labels))
    n = len(conf)
    rows.add(benchmark, "rms_calibration_error", calibration.rms_calibration_error(conf, correct),
             n, corruption, 0, corruption_set)
    rows.add(benchmark, "ece", calibration.expected_calibration_error(conf, correct), n,
             corruption, 0, corruption_set)
    rows.add(benchmark, "aurra", calibration.aurra(conf, correct), n, corruption, 0,
             corruption_set)


def _reliability_rows(rows: Rows, benchmark: str, logits: torch.Tensor, labels,
                      n_bins: int = 15) -> None:
    """Per-bin mean confidence and accuracy (15 equal-width bins) for reliability diagrams."""
    conf, correct = calibration.confidence_and_correct(logits, torch.as_tensor(labels))
    conf, correct = conf.double(), correct.double()
    bins = torch.clamp((conf * n_bins).ceil().long() - 1, 0, n_bins - 1)  # (lo, hi] bins
    for i in range(n_bins):
        sel = bins == i
        k = int(sel.sum())
        if k:
            rows.add(benchmark, f"reliability_conf_bin{i}", float(conf[sel].mean()), k)
            rows.add(benchmark, f"reliability_acc_bin{i}", float(correct[sel].mean()), k)


class Evaluator:
    def __init__(self, ckpt: str | Path, device: str = "auto", batch_size: int = 500,
                 limit: int | None = None, data_root: str | None = None,
                 run: str | None = None, kind: str | None = None,
                 ablation_cell: str = "") -> None:
        self.device = resolve_device(device)
        self.model, self.meta = load_model(ckpt, self.device)
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.batch_size, self.limit, self.data_root = batch_size, limit, data_root
        self.rows = Rows(run or Path(ckpt).parent.as_posix(), self.meta, kind, ablation_cell)

    def _logits(self, images: np.ndarray) -> torch.Tensor:
        return predict_logits(self.model, iter_batches(images, self.batch_size, self.device))

    def _cut(self, n: int) -> int:
        return n if self.limit is None else min(n, self.limit)

    # -- clean ---------------------------------------------------------------------------
    def _clean_batches(self, test) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(x float (B, 3, H, W) in [0, 1] on the device, y) over the first ``limit`` test
        images: uint8 arrays as stored, ImageFolder sets through the deterministic eval
        transform (resize + centre crop, never a training transform)."""
        if isinstance(test, ArrayDataset):
            n = self._cut(len(test))
            labels = torch.from_numpy(test.labels[:n])
            for i, x in enumerate(iter_batches(test.images[:n], self.batch_size, self.device)):
                yield x, labels[i * self.batch_size:(i + 1) * self.batch_size].to(self.device)
            return
        loader = torch.utils.data.DataLoader(test.torch_dataset(train=False),
                                             batch_size=self.batch_size, num_workers=_workers())
        seen = 0
        for x, y in loader:
            keep = self._cut(seen + len(y)) - seen
            if keep <= 0:
                break
            seen += keep
            yield x[:keep].to(self.device).float().div_(255), y[:keep].to(self.device)

    def clean(self, fgsm_eps: float | None = None) -> None:
        test = load_dataset(self.meta["dataset"], "test", self.data_root)
        logits, labels = [], []
        for x, y in self._clean_batches(test):
            logits.append(predict_logits(self.model, [x]))
            labels.append(y.cpu())
        logits_t, labels_t = torch.cat(logits), torch.cat(labels)
        n = len(labels_t)
        acc = accuracy(logits_t, labels_t)
        self.rows.add("clean", "accuracy", acc, n)
        self.rows.add("clean", "error", 1 - acc, n)
        _calibration_rows(self.rows, "clean", logits_t, labels_t)
        _reliability_rows(self.rows, "clean", logits_t, labels_t)
        if fgsm_eps is not None:
            from noisymix.metrics.adversarial import fgsm_accuracy

            acc_adv = fgsm_accuracy(self.model, self._clean_batches(test), fgsm_eps)
            self.rows.add("fgsm", "fgsm_accuracy", acc_adv, n, f"eps={fgsm_eps:.6g}")

    # -- -C ------------------------------------------------------------------------------
    def corruptions(self, root: Path, name: str, extra: bool = False) -> None:
        """A -C set in the CIFAR layout (generated or released), memory-mapped."""
        ds = CifarC(root)

        def logits_of(c: str, s: int) -> tuple[torch.Tensor, torch.Tensor]:
            images, labels = ds.load(c, s)
            n = self._cut(len(labels))
            return self._logits(images[:n]), torch.from_numpy(np.asarray(labels[:n]))

        self._corruption_table(name, ds.corruptions, extra, logits_of)

    def _corruption_table(self, name: str, present: list[str], extra: bool, logits_of) -> None:
        wanted = ALL_CORRUPTIONS if extra else TEST_CORRUPTIONS
        present = [c for c in present if c in wanted]
        if not present:
            raise ValueError(f"benchmark {name} holds none of the corruptions {', '.join(wanted)}")
        acc: dict[str, list[float]] = {}
        pooled_logits, pooled_labels = [], []
        for c in present:
            cset = "all19" if c in EXTRA_CORRUPTIONS else "test15"
            n_c = 0
            for s in range(1, 6):
                logits, labels = logits_of(c, s)
                a = accuracy(logits, labels)
                acc.setdefault(c, []).append(a)
                self.rows.add(name, "accuracy", a, len(labels), c, s, cset)
                n_c += len(labels)
                if c in TEST_CORRUPTIONS:
                    pooled_logits.append(logits)
                    pooled_labels.append(labels)
            self.rows.add(name, "accuracy", float(np.mean(acc[c])), n_c, c, 0, cset)
        test = [c for c in TEST_CORRUPTIONS if c in acc]
        n_all = sum(len(y) for y in pooled_labels)
        if len(test) == len(TEST_CORRUPTIONS):
            ra = cmetrics.robust_accuracy({c: acc[c] for c in test})
            self.rows.add(name, "robust_accuracy", ra["robust_acc"], n_all, "all", 0, "test15")
            self.rows.add(name, "robust_accuracy_no_noise", ra["robust_acc_no_noise"], n_all,
                          "all", 0, "test15")
            if self.meta["dataset"] == "imagenet":
                errs = {c: [1 - a for a in acc[c]] for c in test}
                for c in test:
                    self.rows.add(name, "ce", cmetrics.corruption_error(
                        errs[c], cmetrics.ALEXNET_ERR[c]), n_all // 15, c, 0, "test15")
                self.rows.add(name, "mce", cmetrics.mce(errs), n_all, "all", 0, "test15")
        elif test:  # a subset was asked for: mean over what is there, labelled as such
            subset = "subset:" + ",".join(test)
            vals = [a for c in test for a in acc[c]]
            self.rows.add(name, "robust_accuracy", float(np.mean(vals)), n_all, "all", 0, subset)
            no_noise = [a for c in test if c not in NOISE_CORRUPTIONS for a in acc[c]]
            if no_noise:
                self.rows.add(name, "robust_accuracy_no_noise", float(np.mean(no_noise)),
                              n_all, "all", 0, subset)
        if extra and all(c in acc for c in ALL_CORRUPTIONS):
            vals = [a for c in ALL_CORRUPTIONS for a in acc[c]]
            self.rows.add(name, "robust_accuracy", float(np.mean(vals)), n_all, "all", 0, "all19")
        if pooled_logits:
            _calibration_rows(self.rows, name, torch.cat(pooled_logits), torch.cat(pooled_labels),
                              "all", "test15")

    # -- -P ------------------------------------------------------------------------------
    def perturbations(self, root: Path, name: str) -> None:
        """A -P set in the CIFAR layout: <name>.npy uint8 (N, frames, H, W, 3)."""
        ds = CifarP(root)

        def sequences(p: str):
            seqs = ds.load(p)
            m = self._cut(seqs.shape[0])
            per = max(1, self.batch_size // seqs.shape[1])
            for start in range(0, m, per):
                yield np.asarray(seqs[start:min(m, start + per)])

        self._perturbation_table(name, ds.perturbations, sequences)

    def _perturbation_table(self, name: str, present: list[str], sequences) -> None:
        fps, t5ds, m = {}, {}, 0
        for p in present:
            noise = p in NOISE_PERTURBATIONS
            fp_sum = t5_sum = 0.0
            m = 0
            for block in sequences(p):  # (b, F, H, W, 3)
                b, f = block.shape[:2]
                logits = self._logits(block.reshape(b * f, *block.shape[2:])).view(b, f, -1)
                # both metrics are means over sequences: batch means weighted by size
                fp_sum += stability.flip_probability(logits.argmax(-1), noise) * b
                t5_sum += stability.top5_distance(logits, noise) * b
                m += b
            fps[p], t5ds[p] = fp_sum / max(m, 1), t5_sum / max(m, 1)
            self.rows.add(name, "flip_probability", fps[p], m, p)
            self.rows.add(name, "t5d", t5ds[p], m, p)
        test = [p for p in fps if p in PERTURBATIONS]
        if test:
            # not in paper: AlexNet flip rates are not published with the reference code, so
            # mFR is the unnormalised mean flip probability (what the CIFAR tables report)
            self.rows.add(name, "mfr", float(np.mean([fps[p] for p in test])), m, "all")
            self.rows.add(name, "mt5d", float(np.mean([t5ds[p] for p in test])), m, "all")

    # -- ImageNet-R ----------------------------------------------------------------------
    def imagenet_r(self, root: Path, name: str) -> None:
        from noisymix.benchmarks.readers import ImageNetR, imagenet_r_mask, iter_batches as ib
        from noisymix.data.imagefolder import ResizeCenterCrop

        mask = imagenet_r_mask(self.meta["classes"])
        ds = ImageNetR(root)
        logits, labels, n = [], [], 0
        for x, y in ib(ds, self.batch_size, transform=ResizeCenterCrop(self.meta["image_size"]),
                       num_workers=_workers()):
            out = predict_logits(self.model, [x.to(self.device).float().div_(255)])
            logits.append(out[:, mask.to(out.device)])  # the 200 ImageNet-R classes only
            labels.append(torch.as_tensor(y))
            n += len(y)
            if self.limit and n >= self.limit:
                break
        logits, labels = torch.cat(logits), torch.cat(labels)
        self.rows.add(name, "accuracy", accuracy(logits, labels), len(labels))
        # Table 11: calibration of the 200-way prediction on ImageNet-R (RMS, ECE, AURRA)
        _calibration_rows(self.rows, name, logits, labels)


    # -- ImageNet-C / ImageNet-P folder trees --------------------------------------------
    def _folder_logits(self, dataset) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of an image-file dataset, decoded in workers, never resized (224 px)."""
        from noisymix.benchmarks.readers import iter_batches as ib

        logits, labels, n = [], [], 0
        for x, y in ib(dataset, self.batch_size, num_workers=_workers()):
            x = x.to(self.device).permute(0, 3, 1, 2).float().div_(255)
            logits.append(predict_logits(self.model, [x]))
            labels.append(y)
            n += len(y)
            if self.limit and n >= self.limit:
                break
        return torch.cat(logits)[:self._cut(n)], torch.cat(labels)[:self._cut(n)]

    def imagenet_c(self, root: Path, name: str, extra: bool = False) -> None:
        from noisymix.benchmarks.readers import ImageNetC

        ds = ImageNetC(root, self.meta["classes"])
        self._corruption_table(name, ds.corruptions, extra,
                               lambda c, s: self._folder_logits(ds.load(c, s)))

    def imagenet_p(self, root: Path, name: str) -> None:
        from noisymix.benchmarks.readers import ImageNetP

        ds = ImageNetP(root, self.meta["classes"])

        def sequences(p):  # one video at a time: (1, F, H, W, 3)
            videos = ds.load(p)
            for i in range(self._cut(len(videos))):
                yield videos[i][0].numpy()[None]

        self._perturbation_table(name, ds.perturbations, sequences)


def detect_layout(root: Path) -> str:
    """'c' / 'p' (CIFAR-C/-P npy), 'c-folder' / 'p-folder' (ImageNet-C/-P trees), 'r'."""
    arrays = [p for p in sorted(root.glob("*.npy")) if p.stem != "labels"]
    # gaussian_noise etc. name both a corruption and a perturbation: the rank decides
    ndims = {np.load(p, mmap_mode="r").ndim for p in arrays}
    stems = {p.stem for p in arrays}
    if ndims == {4} and stems & set(ALL_CORRUPTIONS):
        return "c"
    if ndims == {5} and stems & set(ALL_PERTURBATIONS):
        return "p"
    if arrays:
        raise ValueError(f"{root} mixes -C arrays (N, H, W, 3) and -P arrays (N, F, H, W, 3) "
                         f"or holds unknown names; keep one benchmark per folder")
    subdirs = {d.name for d in root.iterdir() if d.is_dir()} if root.is_dir() else set()
    if subdirs & set(ALL_CORRUPTIONS) and all((root / c / "1").is_dir() or (root / c / "5").is_dir()
                                              for c in subdirs & set(ALL_CORRUPTIONS)):
        return "c-folder"
    if subdirs & set(ALL_PERTURBATIONS):
        return "p-folder"
    if sum(1 for d in subdirs if d.startswith("n")) >= 100:
        return "r"
    raise ValueError(f"{root} is not a -C (<corruption>.npy), -P (<perturbation>.npy) or "
                     f"ImageNet-R benchmark folder")


def resolve_benchmark(spec: str, data_root: str | None) -> tuple[str, Path | None]:
    """'clean', a directory, or a release name → (benchmark name, folder)."""
    if spec == "clean":
        return "clean", None
    path = Path(spec)
    if path.is_dir():
        return path.name, path
    from noisymix.benchmarks.releases import list_releases, get_release

    if spec in list_releases():
        from noisymix.data.registry import default_root

        folder = Path(data_root or default_root()) / get_release(spec).dirname
        if not folder.is_dir():
            raise FileNotFoundError(
                f"benchmark {spec!r} not found at {folder}; fetch it with "
                f"`noisymix fetch {spec} --data-root {folder.parent}` or generate one with "
                f"`noisymix corrupt`/`noisymix perturb`")
        return spec, folder
    raise ValueError(f"benchmark {spec!r} is neither 'clean', an existing folder, nor one of "
                     f"the releases {', '.join(list_releases())}")


_SHORT = {"accuracy": "accuracy", "robust_accuracy": "robust_accuracy",
          "robust_accuracy_no_noise": "robust_accuracy_no_noise", "mce": "mce", "mfr": "mfr",
          "mt5d": "mt5d", "fgsm_accuracy": "accuracy", "rms_calibration_error": "rms",
          "ece": "ece", "aurra": "aurra"}


def flat_metrics(df: pd.DataFrame) -> dict[str, float]:
    """A run's headline numbers as one flat dict (``dvc metrics show`` prints a row per run):
    ``clean_accuracy``, ``clean_rms``, ``c_robust_accuracy``, ``c_mce``, ``p_mfr``,
    ``r_accuracy``, ``fgsm_accuracy``, … — prefixed by benchmark kind, not folder name."""
    out = {}
    top = df[(df.severity == 0) & (df.corruption.isin(["", "all"]) | (df.benchmark == "fgsm"))]
    for r in top.itertuples():
        b = str(r.benchmark).lower()
        prefix = ("clean" if b == "clean" else "fgsm" if b == "fgsm" else
                  b[-1] if b[-2:] in ("-c", "-p", "-r") else None)
        if prefix is None or r.metric not in _SHORT:
            continue
        out[f"{prefix}_{_SHORT[r.metric]}"] = round(float(r.value), 6)
    return out


def evaluate(ckpt: str | Path, benchmarks: Iterable[str] = ("clean",), *,
             fgsm_eps: float | None = None, extra_corruptions: bool = False,
             limit: int | None = None, data_root: str | None = None, device: str = "auto",
             batch_size: int = 500, run: str | None = None, kind: str | None = None,
             ablation_cell: str = "") -> pd.DataFrame:
    """Evaluate one checkpoint on several benchmarks; return the tidy result rows."""
    ev = Evaluator(ckpt, device, batch_size, limit, data_root, run, kind, ablation_cell)
    for spec in benchmarks:
        name, folder = resolve_benchmark(spec, data_root)
        if folder is None:
            ev.clean(fgsm_eps)
            continue
        layout = detect_layout(folder)
        if layout == "c":
            ev.corruptions(folder, name, extra_corruptions)
        elif layout == "c-folder":
            ev.imagenet_c(folder, name, extra_corruptions)
        elif layout == "p":
            ev.perturbations(folder, name)
        elif layout == "p-folder":
            ev.imagenet_p(folder, name)
        else:
            ev.imagenet_r(folder, name)
    return ev.rows.frame()




def _workers() -> int:
    """Image-decoding workers: up to 4, never more than the machine's cores."""
    import os

    return min(4, os.cpu_count() or 1)
