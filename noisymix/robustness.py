"""Evaluate a checkpoint on every benchmark in one call → tidy rows (one per model × benchmark
× corruption × severity × metric).

Benchmarks: ``clean`` (the checkpoint's test set, with calibration), -C sets in the CIFAR
layout (generated or released) or the ImageNet-C folder tree, -P sets (CIFAR npy or ImageNet-P
videos), ImageNet-R (logits restricted to its 200 classes), and FGSM at a given ε. Reads are
batched and memory-mapped; transforms are deterministic (already-sized -C/-P images are never
resized or cropped). Aggregates use the 15 test corruptions unless the 4 extra are asked for;
every row records its corruption set and image count.

A benchmark folder is opened through its ``manifest.json`` (``noisymix.manifest``: what it is,
how it was built, every file's size and sha256); official releases, which have none, by their
layout. An incomplete set (corruptions, perturbations or severities missing, a file that does
not match the manifest, an interrupted generator run) is refused unless ``allow_subset``; then
its rows say ``subset`` and its aggregates carry ``corruption_set`` "subset:<names>". Every row
says what its benchmark is (``benchmark_kind``: clean, fgsm, -c, -p, -r), so nothing
downstream parses benchmark names or paths.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from noisymix import manifest as mf
from noisymix import vocab
from noisymix.benchmarks.readers import CifarC, CifarP, check_labels, npy_header
from noisymix.checkpoint import load_model
from noisymix.corruptions.base import SEVERITIES
from noisymix.data import ArrayDataset, load_dataset
from noisymix.device import resolve_device
from noisymix.errors import InputError, UsageError
from noisymix.evaluate import accuracy, iter_batches, predict_logits
from noisymix.metrics import calibration, stability
from noisymix.metrics import corruption as cmetrics
from noisymix.models.wrap import Resized
from noisymix.progress import show_progress
from noisymix.vocab import (
    ALL_CORRUPTIONS,
    ALL_PERTURBATIONS,
    EXTRA_CORRUPTIONS,
    NOISE_CORRUPTIONS,
    NOISE_PERTURBATIONS,
    PERTURBATIONS,
    TEST_CORRUPTIONS,
)

# What a benchmark is, per row (never parsed from its name): vocab.BENCHMARK_KINDS; and
# whether it was evaluated as a subset.
COLUMNS = list(vocab.COLUMNS)
BENCHMARK_KINDS = vocab.BENCHMARK_KINDS
# Files up to this many bytes in all are checked against their manifest sha256 on every eval
# (digits/quick sets: milliseconds); bigger sets (CIFAR-10-C: 2.9 GB) only with verify=True.
# Sizes are always checked.
VERIFY_AUTO_BYTES = 256 << 20


class Rows:
    """Collects result rows that share the model's identity columns."""

    def __init__(self, run: str, meta: dict, kind: str | None = None,
                 ablation_cell: str = "", precision: str = "fp32") -> None:
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
                     **switches, "precision": precision}
        self.rows: list[dict] = []
        self.kind, self.subset = "", False

    def begin(self, kind: str, subset: bool = False) -> None:
        """The rows added next belong to a benchmark of this kind (a subset or not)."""
        if kind not in BENCHMARK_KINDS:
            raise ValueError(f"benchmark kind {kind!r} is not one of {BENCHMARK_KINDS}")
        self.kind, self.subset = kind, bool(subset)

    def add(self, benchmark: str, metric: str, value: float, n: int, corruption: str = "",
            severity: int = 0, corruption_set: str = "", kind: str | None = None) -> None:
        """One row; ``kind`` overrides the current benchmark's (FGSM rows of a clean pass)."""
        row = {**self.base, "benchmark": benchmark,
               "benchmark_kind": kind or self.kind or ("clean" if benchmark == "clean" else ""),
               "corruption": corruption, "severity": int(severity), "metric": metric,
               "value": float(value), "corruption_set": corruption_set, "n_images": int(n),
               "subset": self.subset and kind is None}
        self.rows.append({c: row[c] for c in COLUMNS})

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
                 ablation_cell: str = "", precision: str = "fp32",
                 progress: bool | None = None) -> None:
        if precision not in vocab.PRECISIONS:
            raise UsageError(f"--precision {precision!r}: choose one of "
                             f"{', '.join(vocab.PRECISIONS)}")
        self.device = resolve_device(device)
        # bf16 autocast exists for CUDA only; on the CPU every forward pass is fp32
        self.amp = precision == "bf16" and self.device.type == "cuda"
        self.bar = tqdm(unit="img", desc="eval", leave=False, file=sys.stderr,
                        disable=not show_progress(progress))
        self.model, self.meta = load_model(ckpt, self.device)
        if self.meta.get("input_size"):  # trained at another side: the official test transform
            self.model = Resized(self.model, self.meta["input_size"]).eval()
        if self.device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        self.batch_size, self.limit, self.data_root = batch_size, limit, data_root
        self.rows = Rows(run or Path(ckpt).parent.as_posix(), self.meta, kind, ablation_cell,
                         "bf16" if self.amp else "fp32")

    def _predict(self, batches: Iterable[torch.Tensor]) -> torch.Tensor:
        """Logits of every batch, at the chosen precision, counted on the progress bar."""
        def counted():
            for x in batches:
                yield x
                self.bar.update(len(x))

        return predict_logits(self.model, counted(), amp=self.amp)

    def _logits(self, images: np.ndarray) -> torch.Tensor:
        return self._predict(iter_batches(images, self.batch_size, self.device))

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
            logits.append(self._predict([x]))
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
            self.rows.add("fgsm", "fgsm_accuracy", acc_adv, n, f"eps={fgsm_eps:.6g}",
                          kind="fgsm")

    # -- -C ------------------------------------------------------------------------------
    def _num_classes(self) -> int | None:
        n = self.meta.get("num_classes")
        return int(n) if n is not None else len(self.meta.get("classes") or []) or None

    def _check_size(self, path: Path, hw: tuple[int, ...]) -> None:
        """Arrays must hold images of the model's input size (never resized here)."""
        size = self.meta.get("image_size")
        if size is not None and tuple(hw) != (int(size), int(size)):
            raise InputError(
                f"{path} holds {hw[0]}x{hw[1]} images but the model takes {size}x{size}; "
                f"evaluate it with a model of that dataset, or rebuild the set from the "
                f"model's test set")

    def corruptions(self, root: Path, name: str, extra: bool = False,
                    names: list[str] | None = None,
                    severities: tuple[int, ...] = SEVERITIES) -> None:
        """A -C set in the CIFAR layout (generated or released), memory-mapped; ``names``
        (default: the files present) and ``severities`` (the blocks of each file, in order)."""
        ds = CifarC(root, severities)
        present = list(names) if names is not None else ds.corruptions
        check_labels(ds.labels(), root / "labels.npy", self._num_classes())
        checked: set[str] = set()

        def logits_of(c: str, s: int) -> tuple[torch.Tensor, torch.Tensor]:
            if c not in checked:
                self._check_size(root / f"{c}.npy", ds.images(c).shape[1:3])
                checked.add(c)
            images, labels = ds.load(c, s)
            n = self._cut(len(labels))
            return (self._logits(images[:n]),
                    torch.from_numpy(np.array(labels[:n], dtype=np.int64)))  # a copy

        self._corruption_table(name, present, extra, logits_of, severities)

    def _corruption_table(self, name: str, present: list[str], extra: bool, logits_of,
                          severities: tuple[int, ...] = SEVERITIES) -> None:
        wanted = ALL_CORRUPTIONS if extra else TEST_CORRUPTIONS
        present = [c for c in present if c in wanted]
        if not present:
            raise InputError(f"benchmark {name} holds none of the corruptions "
                             f"{', '.join(wanted)}")
        sevs = [s for s in SEVERITIES if s in severities]
        all_sevs = sevs == list(SEVERITIES)
        acc: dict[str, list[float]] = {}
        pooled_logits, pooled_labels = [], []
        for c in present:
            cset = "all19" if c in EXTRA_CORRUPTIONS else "test15"
            n_c = 0
            for s in sevs:
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
        if len(test) == len(TEST_CORRUPTIONS) and all_sevs:
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
            if not all_sevs:
                subset += ";severities=" + ",".join(map(str, sevs))
            vals = [a for c in test for a in acc[c]]
            self.rows.add(name, "robust_accuracy", float(np.mean(vals)), n_all, "all", 0, subset)
            no_noise = [a for c in test if c not in NOISE_CORRUPTIONS for a in acc[c]]
            if no_noise:
                self.rows.add(name, "robust_accuracy_no_noise", float(np.mean(no_noise)),
                              n_all, "all", 0, subset)
        if extra and all_sevs and all(c in acc for c in ALL_CORRUPTIONS):
            vals = [a for c in ALL_CORRUPTIONS for a in acc[c]]
            self.rows.add(name, "robust_accuracy", float(np.mean(vals)), n_all, "all", 0, "all19")
        if pooled_logits:
            full = len(test) == len(TEST_CORRUPTIONS) and all_sevs
            _calibration_rows(self.rows, name, torch.cat(pooled_logits), torch.cat(pooled_labels),
                              "all", "test15" if full else "subset:" + ",".join(test))

    # -- -P ------------------------------------------------------------------------------
    def perturbations(self, root: Path, name: str, names: list[str] | None = None) -> None:
        """A -P set in the CIFAR layout: <name>.npy uint8 (N, frames, H, W, 3)."""
        ds = CifarP(root)
        present = list(names) if names is not None else ds.perturbations
        if ds.labels is not None:
            check_labels(ds.labels, root / "labels.npy", self._num_classes())

        def sequences(p: str):
            seqs = ds.load(p)
            self._check_size(root / f"{p}.npy", seqs.shape[2:4])
            m = self._cut(seqs.shape[0])
            per = max(1, self.batch_size // seqs.shape[1])
            for start in range(0, m, per):
                yield np.asarray(seqs[start:min(m, start + per)])

        self._perturbation_table(name, present, sequences)

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
        test = [p for p in PERTURBATIONS if p in fps]
        if test:
            # not in paper: AlexNet flip rates are not published with the reference code, so
            # mFR is the unnormalised mean flip probability (what the CIFAR tables report)
            cset = "" if len(test) == len(PERTURBATIONS) else "subset:" + ",".join(test)
            self.rows.add(name, "mfr", float(np.mean([fps[p] for p in test])), m, "all", 0,
                          cset)
            self.rows.add(name, "mt5d", float(np.mean([t5ds[p] for p in test])), m, "all", 0,
                          cset)

    # -- ImageNet-R ----------------------------------------------------------------------
    def imagenet_r(self, root: Path, name: str) -> None:
        from noisymix.benchmarks.readers import ImageNetR, imagenet_r_mask
        from noisymix.benchmarks.readers import iter_batches as ib
        from noisymix.data.imagefolder import ResizeCenterCrop

        mask = imagenet_r_mask(self.meta["classes"])
        ds = ImageNetR(root)
        logits, labels, n = [], [], 0
        for x, y in ib(ds, self.batch_size, transform=ResizeCenterCrop(self.meta["image_size"]),
                       num_workers=_workers()):
            out = self._predict([x.to(self.device).float().div_(255)])
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
            logits.append(self._predict([x]))
            labels.append(y)
            n += len(y)
            if self.limit and n >= self.limit:
                break
        return torch.cat(logits)[:self._cut(n)], torch.cat(labels)[:self._cut(n)]

    def imagenet_c(self, root: Path, name: str, extra: bool = False,
                   names: list[str] | None = None,
                   severities: tuple[int, ...] = SEVERITIES) -> None:
        from noisymix.benchmarks.readers import ImageNetC

        ds = ImageNetC(root, self.meta["classes"])
        self._corruption_table(name, list(names) if names is not None else ds.corruptions,
                               extra, lambda c, s: self._folder_logits(ds.load(c, s)),
                               severities)

    def imagenet_p(self, root: Path, name: str, names: list[str] | None = None) -> None:
        from noisymix.benchmarks.readers import ImageNetP

        ds = ImageNetP(root, self.meta["classes"])

        def sequences(p):  # one video at a time: (1, F, H, W, 3)
            videos = ds.load(p)
            for i in range(self._cut(len(videos))):
                yield videos[i][0].numpy()[None]

        self._perturbation_table(name, list(names) if names is not None else ds.perturbations,
                                 sequences)


def detect_layout(root: Path) -> str:
    """'c' / 'p' (CIFAR-C/-P npy), 'c-folder' / 'p-folder' (ImageNet-C/-P trees), 'r'."""
    arrays = [p for p in sorted(root.glob("*.npy")) if p.stem != "labels"]
    # gaussian_noise etc. name both a corruption and a perturbation: the rank decides (read
    # from the header, so a truncated file is named by its reader, not here)
    ndims = {len(npy_header(p)[0]) for p in arrays}
    stems = {p.stem for p in arrays}
    if ndims == {4} and stems & set(ALL_CORRUPTIONS):
        return "c"
    if ndims == {5} and stems & set(ALL_PERTURBATIONS):
        return "p"
    if arrays:
        raise InputError(f"{root} mixes -C arrays (N, H, W, 3) and -P arrays (N, F, H, W, 3) "
                         f"or holds unknown names; keep one benchmark per folder")
    subdirs = {d.name for d in root.iterdir() if d.is_dir()} if root.is_dir() else set()
    if subdirs & set(ALL_CORRUPTIONS) and all((root / c / "1").is_dir() or (root / c / "5").is_dir()
                                              for c in subdirs & set(ALL_CORRUPTIONS)):
        return "c-folder"
    if subdirs & set(ALL_PERTURBATIONS):
        return "p-folder"
    if sum(1 for d in subdirs if d.startswith("n")) >= 100:
        return "r"
    raise InputError(f"{root} is not a -C (<corruption>.npy), -P (<perturbation>.npy) or "
                     f"ImageNet-R benchmark folder")


def resolve_benchmark(spec: str, data_root: str | None) -> tuple[str, Path | None]:
    """'clean', a directory, or a release name → (benchmark name, folder)."""
    if spec == "clean":
        return "clean", None
    path = Path(spec)
    if path.is_dir():
        return path.name, path
    from noisymix.benchmarks.releases import get_release, list_releases

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


_KIND_OF_LAYOUT = {"clean": "clean", "c": "-c", "c-folder": "-c", "p": "-p", "p-folder": "-p",
                   "r": "-r"}
_LAYOUT_OF_MANIFEST = {("corruptions", "cifar"): "c", ("corruptions", "imagenet"): "c-folder",
                       ("perturbations", "cifar"): "p"}


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """One opened benchmark: what it is and what of it is evaluated.

    ``layout``: clean, c, p, c-folder, p-folder or r; ``names``: the corruptions or
    perturbations to evaluate (``None``: whatever the reader finds, -R); ``severities``: those
    of the -C files, in file order; ``subset``: not the full set (only with allow_subset)."""

    name: str
    folder: Path | None
    layout: str
    names: tuple[str, ...] | None = None
    severities: tuple[int, ...] = SEVERITIES
    subset: bool = False

    @property
    def kind(self) -> str:
        return _KIND_OF_LAYOUT[self.layout]


def open_benchmark(spec: str, data_root: str | None = None, *, extra: bool = False,
                   allow_subset: bool = False, verify: bool | None = None) -> Benchmark:
    """Resolve ``spec`` and check that the benchmark is whole before anything is evaluated.

    A folder with ``manifest.json`` is read through it: its kind and layout, the names and
    severities it was built with, every listed file's size (and sha256: with ``verify``, or
    by default when the files total at most ``VERIFY_AUTO_BYTES``). A folder without one (an
    official release, found through the release registry or given as a path) is read by its
    layout. Incomplete sets — fewer than the 15 test corruptions (19 with ``extra``) or the 10
    test perturbations, severities missing, damaged files, an interrupted generator run — raise
    ``InputError`` unless ``allow_subset``; then what is there is evaluated as a subset.
    """
    name, folder = resolve_benchmark(spec, data_root)
    if folder is None:
        return Benchmark(name, None, "clean")
    m = mf.read_manifest(folder)
    if m is not None:
        return _from_manifest(name, folder, m, extra, allow_subset, verify)
    interrupted = mf.is_interrupted(folder)
    if interrupted and not allow_subset:
        raise InputError(
            f"{folder} is an unfinished `noisymix corrupt`/`perturb` run ({mf.PENDING}, no "
            f"{mf.MANIFEST}); rerun the same command to finish it, or pass --allow-subset to "
            f"evaluate what is there as a subset")
    layout = detect_layout(folder)
    if layout == "r":
        return Benchmark(name, folder, layout)
    sevs: tuple[int, ...] = SEVERITIES
    if layout == "c":
        present = CifarC(folder).corruptions
    elif layout == "c-folder":  # a corruption counts if all its severity folders are there
        present = [c for c in ALL_CORRUPTIONS
                   if all((folder / c / str(s)).is_dir() for s in SEVERITIES)]
    elif layout == "p":
        present = CifarP(folder).perturbations
    else:
        present = [p for p in ALL_PERTURBATIONS if (folder / p).is_dir()]
    return _complete(name, folder, layout, present, sevs, extra, allow_subset, {}, interrupted)


def _from_manifest(name: str, folder: Path, m: dict, extra: bool, allow_subset: bool,
                   verify: bool | None) -> Benchmark:
    layout = _LAYOUT_OF_MANIFEST.get((m["kind"], m["layout"]))
    path = folder / mf.MANIFEST
    if layout is None:
        raise InputError(f"{path}: eval reads no {m['layout']}-layout {m['kind']}")
    names = list(m[m["kind"]])
    sevs = tuple(m["severities"]) if m["kind"] == "corruptions" else SEVERITIES
    files = m["files"]
    sha = verify if verify is not None else (
        sum(e["bytes"] for e in files.values()) <= VERIFY_AUTO_BYTES)
    bad = mf.check_files(folder, files, sha)
    if layout in ("c", "p"):
        need = [f"{n}.npy" for n in names] + (["labels.npy"] if layout == "c" else [])
        bad.update({f: f"is not listed in {mf.MANIFEST}" for f in need if f not in files})
    else:  # c-folder: every (corruption, severity) folder lists n_images files
        count: dict[tuple[str, str], int] = {}
        for rel in files:
            parts = rel.split("/")
            if len(parts) == 4:
                count[parts[0], parts[1]] = count.get((parts[0], parts[1]), 0) + 1
        for c in names:
            for s in sevs:
                k = count.get((c, str(s)), 0)
                if k != m["n_images"]:
                    bad[f"{c}/{s}"] = (f"lists {k} images in {mf.MANIFEST}, not the "
                                       f"{m['n_images']} it was built from")
    if "labels.npy" in bad:
        raise InputError(f"{folder / 'labels.npy'} {bad['labels.npy']}; the set is damaged: "
                         f"rebuild it (rerun the generator with --force)")
    return _complete(name, folder, layout, names, sevs, extra, allow_subset, bad, False)


def _complete(name: str, folder: Path, layout: str, present: list[str],
              sevs: tuple[int, ...], extra: bool, allow_subset: bool, bad: dict[str, str],
              interrupted: bool) -> Benchmark:
    """Refuse an incomplete set (``InputError``) unless ``allow_subset``; else label it."""
    damaged = {rel.split("/")[0].removesuffix(".npy") for rel in bad}
    usable = [n for n in present if n not in damaged]
    if layout in ("c", "c-folder"):
        required = ALL_CORRUPTIONS if extra else TEST_CORRUPTIONS
        what = f"{len(required)} {'' if extra else 'test '}corruptions"
        missing_sevs = [s for s in SEVERITIES if s not in sevs]
    else:
        required, what, missing_sevs = PERTURBATIONS, f"{len(PERTURBATIONS)} test perturbations", []
    missing = [n for n in required if n not in usable]
    if not allow_subset:
        fix = "or pass --allow-subset to evaluate it as a labelled subset"
        if bad:
            rel, problem = next(iter(sorted(bad.items())))
            more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
            raise InputError(f"{folder / rel} {problem}{more}: the set is damaged; rebuild it "
                             f"(rerun the generator with --force), {fix}")
        if missing:
            have = len(required) - len(missing)
            shown = ", ".join(missing[:4]) + (", …" if len(missing) > 4 else "")
            raise InputError(f"{folder} holds {have} of the {what} (missing: {shown}); build "
                             f"the full set, {fix}")
        if missing_sevs:
            raise InputError(f"{folder} holds severities {','.join(map(str, sevs))} of 1..5 "
                             f"(missing: {','.join(map(str, missing_sevs))}); build the full "
                             f"set, {fix}")
    if not [n for n in usable if n in required]:
        raise InputError(f"{folder} holds none of the {what} in a usable state")
    subset = bool(missing or missing_sevs or bad or interrupted)
    return Benchmark(name, folder, layout, tuple(usable), tuple(sevs), subset)


_SHORT = {"accuracy": "accuracy", "robust_accuracy": "robust_accuracy",
          "robust_accuracy_no_noise": "robust_accuracy_no_noise", "mce": "mce", "mfr": "mfr",
          "mt5d": "mt5d", "fgsm_accuracy": "accuracy", "rms_calibration_error": "rms",
          "ece": "ece", "aurra": "aurra"}
_FLAT_PREFIX = {"clean": "clean", "fgsm": "fgsm", "-c": "c", "-p": "p", "-r": "r"}


def flat_metrics(df: pd.DataFrame) -> dict[str, float]:
    """A run's headline numbers as one flat dict (``dvc metrics show`` prints a row per run):
    ``clean_accuracy``, ``clean_rms``, ``c_robust_accuracy``, ``c_mce``, ``p_mfr``,
    ``r_accuracy``, ``fgsm_accuracy``, … — prefixed by the rows' ``benchmark_kind``, never by
    a folder name. The 19-corruption aggregate ends in ``_all19``; a benchmark evaluated as a
    subset gives ``<prefix>_subset_<metric>`` keys, never the full set's."""
    if "benchmark_kind" not in df.columns:
        raise ValueError("result rows have no benchmark_kind column (written by an older "
                         "noisymix); evaluate again")
    out = {}
    top = df[(df.severity == 0)
             & (df.corruption.isin(["", "all"]) | (df.benchmark_kind == "fgsm"))]
    for r in top.itertuples():
        prefix = _FLAT_PREFIX.get(r.benchmark_kind)
        if prefix is None or r.metric not in _SHORT:
            continue
        if bool(r.subset):
            prefix += "_subset"
        suffix = "_all19" if r.corruption_set == "all19" else ""
        out[f"{prefix}_{_SHORT[r.metric]}{suffix}"] = round(float(r.value), 6)
    return out


def evaluate(ckpt: str | Path, benchmarks: Iterable[str] = ("clean",), *,
             fgsm_eps: float | None = None, extra_corruptions: bool = False,
             limit: int | None = None, data_root: str | None = None, device: str = "auto",
             batch_size: int = 500, run: str | None = None, kind: str | None = None,
             ablation_cell: str = "", allow_subset: bool = False,
             verify: bool | None = None, precision: str = "fp32",
             progress: bool | None = None) -> pd.DataFrame:
    """Evaluate one checkpoint on several benchmarks; return the tidy result rows.

    Every benchmark is opened (and checked whole: see ``open_benchmark``) before any is
    evaluated."""
    ev = Evaluator(ckpt, device, batch_size, limit, data_root, run, kind, ablation_cell,
                   precision, progress)
    opened = [open_benchmark(spec, data_root, extra=extra_corruptions,
                             allow_subset=allow_subset, verify=verify) for spec in benchmarks]
    for b in opened:
        ev.rows.begin(b.kind, b.subset)
        names = list(b.names) if b.names is not None else None
        if b.layout == "clean":
            ev.clean(fgsm_eps)
        elif b.layout == "c":
            ev.corruptions(b.folder, b.name, extra_corruptions, names, b.severities)
        elif b.layout == "c-folder":
            ev.imagenet_c(b.folder, b.name, extra_corruptions, names, b.severities)
        elif b.layout == "p":
            ev.perturbations(b.folder, b.name, names)
        elif b.layout == "p-folder":
            ev.imagenet_p(b.folder, b.name, names)
        else:
            ev.imagenet_r(b.folder, b.name)
    ev.bar.close()
    return ev.rows.frame()


def _workers() -> int:
    """Image-decoding workers: up to 4, never more than the machine's cores."""
    import os

    return min(4, os.cpu_count() or 1)
