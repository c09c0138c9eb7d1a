# Shared definitions: the resolved profile, wildcard constraints built from it, and every input
# function (get_* / is_*). The path grammar is noisymix.config's:
#   results/runs/{dataset}/{arch}/{method}/seed{seed}/...            main grid
#   results/runs/{dataset}/{arch}/ablation/{cell}/seed{seed}/...     Table 4 cells
#   results/runs/{dataset}/{arch}/{method}/seed{seed}/transfer/{target}/...
#   results/benchmarks/{dataset}-c, -p    results/data/{name}.json    results/{profile}/
# Threads: every noisymix job declares one core (`noisymix --threads {threads}`). Its CPU work
# is small-kernel, overhead-bound code (narrow nets, batched corruptions), so on a CPU two jobs
# side by side finish sooner than one job on two threads; on a GPU node the GPU does the work
# and ImageFolder decoding runs in loader worker processes.
import os
import re

from noisymix import config as nmconfig

# Same schema as the validate() above, plus defaults and cross-key checks (typed dataclasses).
# Scheme hyper-parameter names are checked by `noisymix train` itself (and by the tests for the
# shipped profiles); skipping that check here keeps torch out of Snakemake's start-up.
# `--config scale=smoke` runs the same DAG in smoke/<profile>/ on fixture data (see Snakefile).
PROFILE = nmconfig.resolve_profile(
    nmconfig.validate_params(config), config["profile"], check_hparams=False
)


def get_workdir():
    return PROFILE.workdir


def _alternation(names):
    return "|".join(re.escape(str(n)) for n in sorted(set(names))) or "(?!)"


wildcard_constraints:
    dataset=_alternation(PROFILE.eval_datasets() + PROFILE.train_datasets()),
    arch=_alternation(PROFILE.archs + PROFILE.ablation.archs),
    method=_alternation(PROFILE.methods),
    cell=_alternation(c.name for c in PROFILE.ablation.cells),
    target=_alternation(p.target for p in PROFILE.transfer.pairs),
    name=_alternation(
        PROFILE.eval_datasets() + PROFILE.train_datasets() + PROFILE.releases()
    ),
    profile=re.escape(PROFILE.name),
    seed=r"\d+",


# --- predicates --------------------------------------------------------------------------


def is_generated(kind):
    """True when the -C (kind "c") / -P ("p") benchmark is built rather than read."""
    s = PROFILE.corruptions if kind == "c" else PROFILE.perturbations
    return s.source == "generate" and (kind == "c" or s.enabled)


# --- data --------------------------------------------------------------------------------


def get_data_marker(wildcards):
    return nmconfig.DATA_MARKER.format(name=wildcards.dataset)


def get_download_flag(wildcards):
    return "--download" if PROFILE.download or PROFILE.smoke else "--no-download"


def get_data_root_flag(wildcards=None):
    """`--data-root DIR` at smoke scale (fixture data); at full scale the user's data root
    (NOISYMIX_DATA or ./data) is a runtime setting, not part of the plan."""
    return "" if PROFILE.data_root is None else f"--data-root {PROFILE.data_root}"


def get_mirror_inputs(wildcards=None):
    """The fixture mirror `prepare` downloads from at smoke scale (nothing at full scale)."""
    return [] if PROFILE.mirror is None else [PROFILE.mirror]


def get_mirror_flag(wildcards):
    return "" if PROFILE.mirror is None else f"--mirror {PROFILE.mirror}"


def get_fixture_names(wildcards=None):
    return " ".join(f"--name {n}" for n in PROFILE.fixture_names())


def _limit_flag(limit):
    return "" if limit is None else f"--limit {limit}"


def get_corrupt_limit(wildcards):
    return _limit_flag(PROFILE.corruptions.limit)


def get_perturb_limit(wildcards):
    return _limit_flag(PROFILE.perturbations.limit)


# --- training ----------------------------------------------------------------------------


def get_run_dir(wildcards):
    return nmconfig.RUN_DIR.format(**wildcards)


def get_ablation_dir(wildcards):
    return nmconfig.ABLATION_DIR.format(**wildcards)


def get_transfer_dir(wildcards):
    run = nmconfig.RUN_DIR.format(**{k: wildcards[k] for k in ("dataset", "arch", "method", "seed")})
    return nmconfig.TRANSFER_DIR.format(run=run, target=wildcards.target)


def get_method(wildcards):
    """The scheme to train: the run's method, or noisymix for an ablation cell."""
    return "noisymix" if wildcards.get("cell") else wildcards.method


def get_scheme_params(wildcards):
    """`--param k=v ...` of this run's scheme: only its own overrides, so that editing one
    scheme's hyper-parameter changes this string (and reruns) for that scheme alone."""
    cell = wildcards.get("cell")
    method = "noisymix" if cell else wildcards.method
    return " ".join(f"--param {a}" for a in PROFILE.param_args(method, cell))


def get_train_subset(wildcards):
    n = PROFILE.train.train_subset
    return "" if n is None else f"--train-subset {n}"


def get_finetune_subset(wildcards):
    n = PROFILE.transfer.finetune.train_subset
    return "" if n is None else f"--train-subset {n}"


def get_source_model(wildcards):
    run = get_run_dir({k: wildcards[k] for k in ("dataset", "arch", "method", "seed")})
    return f"{run}/model.safetensors"


def get_target_marker(wildcards):
    return nmconfig.DATA_MARKER.format(name=wildcards.target)


# --- evaluation --------------------------------------------------------------------------


def get_benchmark_dir(wildcards, output):
    """The benchmark folder whose manifest.json is the rule's output."""
    return os.path.dirname(output[0])


def _manifest(folder):
    return f"{folder}/manifest.json"


def _benchmark_inputs(dataset, with_perturbations, trained_on):
    """Benchmarks of ``dataset`` as (--benchmark values, files the eval job depends on) for a
    model trained on ``trained_on`` (extra releases such as ImageNet-R need its classes)."""
    values, deps = ["clean"], [nmconfig.DATA_MARKER.format(name=dataset)]
    c = PROFILE.corruption_benchmark(dataset)
    values.append(c)
    deps.append(_manifest(c) if is_generated("c") else nmconfig.DATA_MARKER.format(name=c))
    p = PROFILE.perturbation_benchmark(dataset) if with_perturbations else None
    if p is not None:
        values.append(p)
        deps.append(_manifest(p) if is_generated("p") else nmconfig.DATA_MARKER.format(name=p))
    for r in PROFILE.extra_benchmarks_for(trained_on):
        values.append(r)
        deps.append(nmconfig.DATA_MARKER.format(name=r))
    return values, deps


def get_eval_benchmark_inputs(wildcards):
    """Data an eval job reads: its dataset's benchmarks (transfer runs: the target's, no -P)."""
    target = wildcards.get("target")
    dataset = target or wildcards.dataset
    return _benchmark_inputs(dataset, target is None, dataset)[1]


def get_eval_benchmark_args(wildcards):
    target = wildcards.get("target")
    dataset = target or wildcards.dataset
    values = _benchmark_inputs(dataset, target is None, dataset)[0]
    return " ".join(f"--benchmark {v}" for v in values)


def get_eval_options(wildcards):
    e, flags = PROFILE.eval, []
    if e.fgsm_eps is not None:
        flags.append(f"--fgsm-eps {e.fgsm_eps}")
    if PROFILE.corruptions.extra:
        flags.append("--extra-corruptions")
    if e.limit is not None:
        flags.append(f"--limit {e.limit}")
    return " ".join(flags)


# --- tables ------------------------------------------------------------------------------


def get_eval_results(wildcards=None):
    """Every evaluation table of the profile: main grid, ablation cells, transfer runs."""
    runs = [r.path for r in PROFILE.runs() + PROFILE.ablation_runs()]
    runs += [t.path for t in PROFILE.transfer_runs()]
    return [f"{r}/eval.parquet" for r in runs]


def get_toy_result(wildcards=None):
    return [f"{nmconfig.TOY_DIR}/toy.json"] if PROFILE.toy.enabled else []


def get_toy_inputs(wildcards=None):
    """Files aggregate reads from the toy run: results and the decision-boundary grid."""
    return [f"{nmconfig.TOY_DIR}/{f}" for f in ("toy.json", "toy_grid.npz")] if PROFILE.toy.enabled else []


def get_toy_dir(wildcards):
    return nmconfig.TOY_DIR


def get_toy_flag(wildcards):
    return " ".join(f"--toy {t}" for t in get_toy_result())


def get_summary_dir(wildcards=None):
    return nmconfig.SUMMARY_DIR.format(profile=PROFILE.name)


def get_transfer_sources(wildcards=None):
    """Source models trained only for transfer (their dataset/arch is outside the main grid)."""
    return [f"{r.path}/model.safetensors" for r in PROFILE.transfer_source_runs()]


def get_final_outputs():
    """The summary plus every evaluation table it is built from: results/<profile>/ is
    committed, so on a fresh clone the missing (uncommitted) tables are what makes the DAG
    run, and aggregate then rewrites the committed tables from real results."""
    return [f"{get_summary_dir()}/summary.json", *get_eval_results(), *get_toy_inputs()]
