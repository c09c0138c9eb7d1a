"""params.yaml → validated, typed experiment profiles (shared by the CLI, Snakemake and tests).

The experiment grid of the NoisyMix reproduction (Erichson et al., arXiv:2202.01263; reference
code github.com/erichson/NoisyMix) lives in one file, ``params.yaml``, read by Snakemake, DVC
and this module alike. It is checked against ``noisymix/pipeline/params.schema.yaml`` (JSON
Schema; every key documented, unknown keys are errors), defaults are filled in from the
schema, and the selected profile becomes frozen dataclasses. The path grammar of the pipeline
(``results/runs/{dataset}/{arch}/{method}/seed{seed}``) is defined here once.

    >>> from noisymix.config import load_config
    >>> p = load_config("params.yaml", profile="quick")
    >>> [r.path for r in p.runs()][:1]
    ['results/runs/digits/preactresnet18/erm/seed0']
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from pathlib import Path
from typing import Any, Iterable

import yaml

from noisymix.errors import UsageError
from noisymix.vocab import EXTRA_CORRUPTIONS, SWITCHES  # noqa: F401  (one vocabulary)

# Shipped inside the package, so that an installed wheel validates params.yaml too.
SCHEMA_PATH = Path(__file__).resolve().parent / "pipeline" / "params.schema.yaml"

# One path grammar for both engines (Snakemake rules and dvc.yaml spell the same strings).
RESULTS = "results"
RUN_DIR = RESULTS + "/runs/{dataset}/{arch}/{method}/seed{seed}"
ABLATION_DIR = RESULTS + "/runs/{dataset}/{arch}/ablation/{cell}/seed{seed}"
TRANSFER_DIR = "{run}/transfer/{target}"
DATA_MARKER = RESULTS + "/data/{name}.json"
BENCHMARK_DIR = RESULTS + "/benchmarks/{dataset}-{kind}"  # kind: c or p
TOY_DIR = RESULTS + "/toy"
SUMMARY_DIR = RESULTS + "/{profile}"
PLOT_CSV = "plot_accuracy.csv"  # in SUMMARY_DIR/tables: the report writes it, DVC plots it
# Every profile runs the same paths inside its own working directory (Snakemake `workdir:`,
# the folder of its generated dvc.yaml): the quick profile at the repository root (README
# command 1, committed results/quick), every other profile in pipelines/<profile>/, and
# scale=smoke in smoke/<profile>/ with fixture data (its own data root and the mirror that
# `prepare` downloads from). Separate folders because DVC sees every dvc.yaml of the
# repository at once and refuses two stages that write one path (results/data/cifar10.json of
# the cifar and imagenet profiles, results/toy/ of several).
ROOT_PROFILE = "quick"
PROFILE_WORKDIR = "pipelines/{profile}"
SMOKE_WORKDIR = "smoke/{profile}"
SMOKE_DATA_ROOT = "data"
SMOKE_MIRROR = "fixtures/mirror.json"
SCALES = ("full", "smoke")


class ConfigError(UsageError):
    """params.yaml is invalid; the message names the key path and what is allowed."""


# --- typed profile ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    epochs: int
    batch_size: int
    lr: float            # peak learning rate
    weight_decay: float
    train_subset: int | None


@dataclasses.dataclass(frozen=True)
class AblationCell:
    name: str
    augment: bool
    mix: bool
    noise: bool
    jsd: bool

    def switches(self) -> dict[str, bool]:
        return {k: getattr(self, k) for k in SWITCHES}


@dataclasses.dataclass(frozen=True)
class Ablation:
    datasets: tuple[str, ...]
    archs: tuple[str, ...]
    seeds: tuple[int, ...]
    full_grid: bool
    cells: tuple[AblationCell, ...]  # listed cells, plus the rest of the 2^4 grid if full_grid


@dataclasses.dataclass(frozen=True)
class CorruptionSettings:
    source: str          # "generate" or "release"
    preset: str
    names: tuple[str, ...]
    severities: tuple[int, ...]
    limit: int | None
    seed: int

    @property
    def extra(self) -> bool:
        """True when any of the 4 extra (validation) corruptions is built."""
        return any(n in EXTRA_CORRUPTIONS for n in self.names)


@dataclasses.dataclass(frozen=True)
class PerturbationSettings:
    enabled: bool
    source: str
    preset: str
    names: tuple[str, ...]
    limit: int | None
    seed: int


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    fgsm_eps: float | None
    limit: int | None
    extra_benchmarks: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class TransferPair:
    source: str
    arch: str
    target: str


@dataclasses.dataclass(frozen=True)
class FinetuneSettings:
    epochs: int
    lr: float
    weight_decay: float
    batch_size: int
    train_subset: int | None
    image_size: int | None = None  # train/evaluate at this side (the official transfer: 224)


@dataclasses.dataclass(frozen=True)
class Transfer:
    methods: tuple[str, ...]
    pairs: tuple[TransferPair, ...]
    finetune: FinetuneSettings


@dataclasses.dataclass(frozen=True)
class ImportedModel:
    """A zoo entry imported as a run (``noisymix import``); arch/method are the entry's."""

    entry: str
    arch: str
    method: str
    file: str | None        # browser download: where the user saved it (full scale only)


@dataclasses.dataclass(frozen=True)
class Models:
    source: str                             # "train" or "import"
    imports: tuple[ImportedModel, ...]      # the main grid when source is "import"
    normaliser: ImportedModel | None        # AlexNet: mCE / mFR denominators

    @property
    def imported(self) -> bool:
        return self.source == "import"

    def all_imports(self) -> tuple[ImportedModel, ...]:
        return self.imports + ((self.normaliser,) if self.normaliser else ())


@dataclasses.dataclass(frozen=True)
class Toy:
    enabled: bool
    seed: int


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run of the grid; ``cell`` is set for ablation runs (method noisymix)."""

    dataset: str
    arch: str
    method: str
    seed: int
    cell: str | None = None

    @property
    def path(self) -> str:
        if self.cell is not None:
            return ABLATION_DIR.format(dataset=self.dataset, arch=self.arch, cell=self.cell,
                                       seed=self.seed)
        return RUN_DIR.format(dataset=self.dataset, arch=self.arch, method=self.method,
                              seed=self.seed)


@dataclasses.dataclass(frozen=True)
class TransferRun:
    source: Run
    target: str

    @property
    def path(self) -> str:
        return TRANSFER_DIR.format(run=self.source.path, target=self.target)


@dataclasses.dataclass(frozen=True)
class Profile:
    name: str
    description: str
    datasets: tuple[str, ...]
    archs: tuple[str, ...]
    width: float
    methods: tuple[str, ...]
    seeds: tuple[int, ...]
    download: bool
    train: TrainSettings
    method_params: dict[str, dict[str, Any]]
    ablation: Ablation
    corruptions: CorruptionSettings
    perturbations: PerturbationSettings
    eval: EvalSettings
    transfer: Transfer
    toy: Toy
    models: Models = Models("train", (), None)
    scale: str = "full"
    fixture_seed: int = 0    # smoke scale: seed of `noisymix fixtures`
    fixture_image_size: int = 64  # smoke scale: ImageNet-style fixture images (px)

    # -- where it runs --
    @property
    def smoke(self) -> bool:
        return self.scale == "smoke"

    @property
    def workdir(self) -> str:
        """Working directory of the DAG (relative to the repository): see PROFILE_WORKDIR."""
        if self.smoke:
            return SMOKE_WORKDIR.format(profile=self.name)
        return "." if self.name == ROOT_PROFILE else PROFILE_WORKDIR.format(profile=self.name)

    @property
    def data_root(self) -> str | None:
        """``--data-root`` of every data-reading verb (None: the user's NOISYMIX_DATA / ./data)."""
        return SMOKE_DATA_ROOT if self.smoke else None

    @property
    def mirror(self) -> str | None:
        """Mirror index that `prepare` downloads from instead of the official URLs (smoke
        scale, when the profile reads anything but embedded data)."""
        return SMOKE_MIRROR if self.smoke and self.fixture_names() else None

    def fixture_names(self) -> list[str]:
        """Datasets and releases the smoke fixtures must provide (digits is embedded)."""
        names = [d for d in self.eval_datasets() + self.train_datasets()
                 if not d.startswith("digits")]
        zoo = [f"zoo-{x.entry}" for _, x in self.import_runs()]  # tiny weight files
        return list(dict.fromkeys(names + self.releases() + zoo))

    # -- the grid --
    def runs(self) -> list[Run]:
        """Main grid: dataset × arch × method × seed, or (models.source import) one run per
        imported checkpoint (seed 0), the normaliser (AlexNet) last."""
        if self.models.imported:
            return [r for r, _ in self.import_runs()]
        return [Run(d, a, m, s) for d, a, m, s in
                itertools.product(self.datasets, self.archs, self.methods, self.seeds)]

    def import_runs(self) -> list[tuple[Run, ImportedModel]]:
        """(run, imported model) of every checkpoint imported: the grid's, then the normaliser
        (also imported when the grid is trained)."""
        m = self.models
        models = m.all_imports() if m.imported else ((m.normaliser,) if m.normaliser else ())
        return [(Run(self.datasets[0], x.arch, x.method, 0), x) for x in models]

    def normaliser_run(self) -> Run | None:
        """The AlexNet run whose -C/-P figures normalise mCE / mFR (None: none)."""
        runs = self.import_runs()
        return runs[-1][0] if self.models.normaliser else None

    def trained_methods(self) -> tuple[str, ...]:
        return () if self.models.imported else self.methods

    def run_archs(self) -> list[str]:
        """Every architecture with a run folder (grid, ablation, imports)."""
        names = list(self.archs) + list(self.ablation.archs)
        names += [r.arch for r, _ in self.import_runs()] + [p.arch for p in self.transfer.pairs]
        return list(dict.fromkeys(names))

    def run_methods(self) -> list[str]:
        """Every method label with a run folder (trained schemes, imported rows)."""
        return list(dict.fromkeys(list(self.methods) + [r.method for r, _ in self.import_runs()]))

    def transfer_source_runs(self) -> list[Run]:
        """Source models of transfer pairs whose (dataset, arch) is not in the main grid:
        trained for the transfer methods only, evaluated only through their fine-tuned runs."""
        main = set(self.runs())
        out = [t.source for t in self.transfer_runs() if t.source not in main]
        return list(dict.fromkeys(out))

    def train_datasets(self) -> list[str]:
        """Every dataset a model is trained on (main grid, ablation, transfer sources)."""
        names = list(self.datasets) + list(self.ablation.datasets)
        names += [p.source for p in self.transfer.pairs]
        return list(dict.fromkeys(names))

    def extra_benchmarks_for(self, dataset: str) -> tuple[str, ...]:
        """Extra releases a model trained on ``dataset`` is evaluated on: ImageNet-R only
        makes sense for models whose classes are ImageNet's (not a transfer target's)."""
        return self.eval.extra_benchmarks if dataset == "imagenet" else ()

    def ablation_runs(self) -> list[Run]:
        ab = self.ablation
        return [Run(d, a, "noisymix", s, c.name) for d, a, c, s in
                itertools.product(ab.datasets, ab.archs, ab.cells, ab.seeds)]

    def transfer_runs(self) -> list[TransferRun]:
        out = []
        seeds = (0,) if self.models.imported else self.seeds  # imported checkpoints: seed 0
        for pair in self.transfer.pairs:
            for m, s in itertools.product(self.transfer.methods, seeds):
                out.append(TransferRun(Run(pair.source, pair.arch, m, s), pair.target))
        return out

    def eval_datasets(self) -> list[str]:
        """Datasets whose benchmarks are evaluated: the grid's, the ablation's, the targets'."""
        names = list(self.datasets) + list(self.ablation.datasets)
        names += [p.target for p in self.transfer.pairs]
        return list(dict.fromkeys(names))

    def cell(self, name: str) -> AblationCell:
        for c in self.ablation.cells:
            if c.name == name:
                return c
        raise KeyError(f"no ablation cell {name!r} in profile {self.name!r}")

    # -- hyper-parameters as `noisymix train --param` values --
    def scheme_params(self, method: str, cell: str | None = None) -> dict[str, Any]:
        """Overrides for ``method`` (ablation cells: noisymix's overrides + the 4 switches)."""
        params = dict(self.method_params.get(method, {}))
        if cell is not None:
            params.update(self.cell(cell).switches())
        return dict(sorted(params.items()))

    def param_args(self, method: str, cell: str | None = None) -> list[str]:
        """``["key=value", ...]`` for ``--param``; values as YAML scalars (lists as [a, b])."""
        return [f"{k}={format_value(v)}" for k, v in self.scheme_params(method, cell).items()]

    # -- benchmarks --
    def corruption_benchmark(self, dataset: str) -> str:
        """``--benchmark`` value: a generated directory or a release name."""
        if self.corruptions.source == "release":
            return f"{dataset}-c"
        return BENCHMARK_DIR.format(dataset=dataset, kind="c")

    def perturbation_benchmark(self, dataset: str) -> str | None:
        if not self.perturbations.enabled:
            return None
        if self.perturbations.source == "release":
            return f"{dataset}-p"
        return BENCHMARK_DIR.format(dataset=dataset, kind="p")

    def releases(self) -> list[str]:
        """Official releases that the evaluated benchmarks read (prepared like datasets)."""
        out = [r for d in self.eval_datasets() for r in self.extra_benchmarks_for(d)]
        if self.corruptions.source == "release":
            out += [f"{d}-c" for d in self.eval_datasets()]
        if self.perturbations.enabled and self.perturbations.source == "release":
            out += [f"{d}-p" for d in self.datasets]
        return list(dict.fromkeys(out))


def format_value(v: Any) -> str:
    """A value as ``noisymix.cli.parse_params`` reads it back (YAML flow style)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(format_value(x) for x in v) + "]"
    return str(v)


# --- loading and validation ------------------------------------------------------------


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    return yaml.safe_load(Path(path).read_text())


def load_params(path: str | Path = "params.yaml") -> dict:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (run from the repository root or pass its path)")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _resolve_ref(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root["$defs"][name]
    return schema


def fill_defaults(data: Any, schema: dict, root: dict | None = None) -> Any:
    """Insert schema defaults for missing keys, recursively (returns a new object)."""
    root = root or schema
    schema = _resolve_ref(schema, root)
    if isinstance(data, dict):
        out = dict(data)
        props = schema.get("properties", {})
        for key, sub in props.items():
            if key not in out and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
        for key, value in out.items():
            if key in props:
                out[key] = fill_defaults(value, props[key], root)
            elif isinstance(schema.get("additionalProperties"), dict):
                out[key] = fill_defaults(value, schema["additionalProperties"], root)
        return out
    if isinstance(data, list) and isinstance(schema.get("items"), dict):
        return [fill_defaults(x, schema["items"], root) for x in data]
    return data


def _key_path(parts: Iterable) -> str:
    s = ""
    for p in parts:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else str(p))
    return s or "<top level>"


def _describe(error) -> str:
    """One line per schema violation: key path, what is wrong, what is allowed."""
    where = _key_path(error.absolute_path)
    v = error.validator
    if v == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        return (f"{where}: unknown key(s) {', '.join(map(repr, extra))}; allowed: "
                f"{', '.join(allowed)}")
    if v == "enum":
        return (f"{where}: {error.instance!r} is not allowed; choose one of: "
                f"{', '.join(map(str, error.validator_value)) or '(none)'}")
    if v in ("anyOf", "minimum", "maximum", "exclusiveMinimum") and "description" in error.schema:
        return f"{where}: {error.instance!r} is not allowed; must be {error.schema['description']}"
    if v == "type":
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        return f"{where}: expected {want}, got {type(error.instance).__name__} {error.instance!r}"
    if v == "required":
        return f"{where}: {error.message}"
    if v == "pattern" and error.absolute_path and isinstance(error.instance, str):
        return f"{where}: {error.instance!r} must match {error.validator_value}"
    return f"{where}: {error.message}"


def validate_params(data: dict, schema: dict | None = None) -> dict:
    """Validate ``data`` (a parsed params.yaml) and return it with every default filled in."""
    import jsonschema

    schema = schema or load_schema()
    data = fill_defaults(data, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    lines = list(dict.fromkeys(_describe(e) for e in errors)) + _non_finite(data, [])
    if lines:
        raise ConfigError("params.yaml is invalid:\n  " + "\n  ".join(lines))
    return data


def _non_finite(data: Any, where: list) -> list[str]:
    """One line per NaN or infinite number (JSON Schema bounds let NaN through)."""
    import math

    if isinstance(data, dict):
        return [line for k, v in data.items() for line in _non_finite(v, [*where, k])]
    if isinstance(data, list):
        return [line for i, v in enumerate(data) for line in _non_finite(v, [*where, i])]
    if isinstance(data, float) and not math.isfinite(data):
        return [f"{_key_path(where)}: {data!r} is not allowed; numbers must be finite"]
    return []


def _full_grid(listed: list[AblationCell]) -> list[AblationCell]:
    seen = {tuple(c.switches().values()) for c in listed}
    cells = list(listed)
    for bits in itertools.product((True, False), repeat=4):
        if bits not in seen:
            name = "_".join(k for k, b in zip(SWITCHES, bits) if b) or "none"
            cells.append(AblationCell(name, *bits))
    return cells


def _check_method_params(where: str, method_params: dict) -> None:
    """Every override checked by the scheme's own declarations (the check ``create_scheme``
    and ``--param`` do; the schema mirrors it without torch, for Snakemake's start-up)."""
    from noisymix.errors import UsageError
    from noisymix.methods import check_hparams

    for method, params in method_params.items():
        try:
            check_hparams(method, params)
        except UsageError as e:
            raise ConfigError(f"{where}.method_params.{method}: {e}") from None


def resolve_profile(data: dict, profile: str | None = None, check_hparams: bool = True,
                    scale: str | None = None) -> Profile:
    """The selected profile of validated ``data`` as a typed ``Profile`` (cross-key checks too).

    ``scale`` (default: ``data["scale"]``) "smoke" shrinks sizes as ``data["smoke"]`` says.
    """
    name = profile or data["profile"]
    scale = scale or data.get("scale", "full")
    if scale not in SCALES:
        raise ConfigError(f"scale: {scale!r} is not allowed; choose one of: {', '.join(SCALES)}")
    if name not in data["profiles"]:
        raise ConfigError(f"profile: {name!r} is not defined; choose one of: "
                          f"{', '.join(data['profiles'])}")
    p = data["profiles"][name]
    where = f"profiles.{name}"
    ab, tr = p["ablation"], p["transfer"]
    models = _models(where, p["models"], p["datasets"], scale == "smoke")
    if models.imported:  # the grid's rows are the imported checkpoints' methods
        p = {**p, "methods": [m.method for m in models.imports]}
    cells = [AblationCell(**c) for c in ab["cells"]]
    if ab["full_grid"]:
        cells = _full_grid(cells)
    names = [c.name for c in cells]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{where}.ablation.cells: duplicate cell name(s) {dup}")
    if cells and not (ab["datasets"] and ab["archs"]):
        raise ConfigError(f"{where}.ablation: cells are listed but datasets/archs are empty")
    t_methods = tuple(tr["methods"]) if tr["methods"] is not None else tuple(p["methods"])
    missing = sorted(set(t_methods) - set(p["methods"]))
    if missing:
        raise ConfigError(f"{where}.transfer.methods: {missing} are not trained in this profile; "
                          f"choose from {', '.join(p['methods'])}")
    for i, pair in enumerate(tr["pairs"]):
        if pair["source"] == pair["target"]:
            raise ConfigError(f"{where}.transfer.pairs[{i}]: source and target are both "
                              f"{pair['source']!r}; a transfer needs another dataset")
    if check_hparams:
        _check_method_params(where, p["method_params"])

    prof = Profile(
        name=name,
        description=p["description"],
        datasets=tuple(p["datasets"]),
        archs=tuple(p["archs"]),
        width=float(p["width"]),
        methods=tuple(p["methods"]),
        seeds=tuple(p["seeds"]),
        download=p["data"]["download"],
        train=TrainSettings(**p["train"]),
        method_params={k: dict(v) for k, v in p["method_params"].items()},
        ablation=Ablation(tuple(ab["datasets"]), tuple(ab["archs"]), tuple(ab["seeds"]),
                          ab["full_grid"], tuple(cells)),
        corruptions=CorruptionSettings(**{**p["corruptions"],
                                          "names": tuple(p["corruptions"]["names"]),
                                          "severities": tuple(p["corruptions"]["severities"])}),
        perturbations=PerturbationSettings(**{**p["perturbations"],
                                              "names": tuple(p["perturbations"]["names"])}),
        eval=EvalSettings(p["eval"]["fgsm_eps"], p["eval"]["limit"],
                          tuple(p["eval"]["extra_benchmarks"])),
        transfer=Transfer(t_methods, tuple(TransferPair(**x) for x in tr["pairs"]),
                          FinetuneSettings(**tr["finetune"])),
        toy=Toy(**p["toy"]),
        models=models,
    )
    if scale == "smoke":
        prof = _smoke(prof, data.get("smoke", {}))
    # The schema's release enum mirrors noisymix.benchmarks.list_releases() (a test checks);
    # reading it here keeps torch out of Snakemake's start-up.
    releases = load_schema()["$defs"]["release"]["enum"]
    unknown = sorted(set(prof.releases()) - set(releases))
    if unknown:
        raise ConfigError(
            f"{where}: no official release {unknown} exists (source: release); use "
            f"source: generate for those datasets. Releases: {', '.join(releases)}")
    return prof


def _models(where: str, m: dict, datasets: list[str], smoke: bool) -> Models:
    """The ``models`` block: zoo entries resolved (zoo.py is torch-free) and checked."""
    from noisymix.zoo import get_entry

    def imported(name: str) -> ImportedModel:
        e = get_entry(name)
        file = None if smoke else m["files"].get(name)
        if e.manual and file is None and not smoke:
            raise ConfigError(f"{where}.models.files: {name} is a browser download "
                              f"({e.source}); save it and give its path here")
        return ImportedModel(name, e.arch, e.method, file)

    imports = tuple(imported(n) for n in m["import"])
    normaliser = imported(m["normaliser"]) if m["normaliser"] else None
    if m["source"] == "import":
        if not imports:
            raise ConfigError(f"{where}.models: source import lists no entries under import")
        if list(datasets) != ["imagenet"]:
            raise ConfigError(f"{where}.models: imported checkpoints are ImageNet models; "
                              f"datasets must be [imagenet], not {datasets}")
        methods = [x.method for x in imports]
        dup = sorted({x for x in methods if methods.count(x) > 1})
        if dup:
            raise ConfigError(f"{where}.models.import: two entries stand for method(s) {dup}")
    if normaliser is not None and normaliser.method in [x.method for x in imports]:
        raise ConfigError(f"{where}.models.normaliser: {normaliser.entry} is also in import")
    if m["source"] == "import" or normaliser is not None:
        if list(datasets) != ["imagenet"]:
            raise ConfigError(f"{where}.models.normaliser: AlexNet normalises ImageNet "
                              f"benchmarks; datasets must be [imagenet]")
    return Models(m["source"], imports, normaliser)


def _smoke(p: Profile, s: dict) -> Profile:
    """``p`` at smoke scale: the same DAG (every rule, table, kind of input), smaller sizes."""
    rep = dataclasses.replace
    seeds = tuple(s["seeds"])
    limit = lambda n, cap: cap if n is None else min(n, cap)  # noqa: E731
    return rep(
        p, scale="smoke", fixture_seed=s["fixture_seed"],
        fixture_image_size=s["fixture_image_size"], width=s["width"], seeds=seeds,
        train=rep(p.train, epochs=s["epochs"], batch_size=s["batch_size"],
                  train_subset=s["train_subset"]),
        ablation=rep(p.ablation, seeds=seeds),
        corruptions=rep(p.corruptions, limit=limit(p.corruptions.limit, s["corruption_limit"])),
        perturbations=rep(p.perturbations,
                          limit=limit(p.perturbations.limit, s["perturbation_limit"])),
        eval=rep(p.eval, limit=limit(p.eval.limit, s["eval_limit"])),
        transfer=rep(p.transfer, finetune=rep(
            p.transfer.finetune, epochs=s["epochs"], batch_size=s["batch_size"],
            train_subset=s["train_subset"],
            image_size=p.transfer.finetune.image_size and s["transfer_image_size"])),
    )


def load_config(path: str | Path = "params.yaml", profile: str | None = None,
                check_hparams: bool = True, scale: str | None = None) -> Profile:
    """Load, validate and resolve ``path``; ``profile`` and ``scale`` override its keys."""
    return resolve_profile(validate_params(load_params(path)), profile, check_hparams, scale)
