# Shared definitions: the resolved profile, its plan (noisymix.pipeline), wildcard constraints
# built from it, and the input functions (get_*). Every rule's command, inputs and code come from
# the plan, which `noisymix dvc-yaml` also writes as DVC stages: the two engines run the same
# commands. The path grammar is noisymix.config's:
#   results/runs/{dataset}/{arch}/{method}/seed{seed}/...            main grid
#   results/runs/{dataset}/{arch}/ablation/{cell}/seed{seed}/...     Table 4 cells
#   results/runs/{dataset}/{arch}/{method}/seed{seed}/transfer/{target}/...
#   results/benchmarks/{dataset}-c, -p    results/data/{name}.json    results/{profile}/
# Threads: every noisymix job declares one core (`noisymix --threads 1`). Its CPU work is
# small-kernel, overhead-bound code (narrow nets, batched corruptions), so on a CPU two jobs
# side by side finish sooner than one job on two threads; on a GPU node the GPU does the work
# and ImageFolder decoding runs in loader worker processes.
import os
import re
import shutil

from noisymix import config as nmconfig
from noisymix.pipeline import plan as nmplan

# Same schema as the validate() above, plus defaults and cross-key checks (typed dataclasses).
# Scheme hyper-parameter names and ranges are checked at parse time by the schema (a mirror of
# the schemes' declarations, kept equal by a test); the torch-side check is skipped here to keep
# torch out of Snakemake's start-up.
# `--config scale=smoke` runs the same DAG in smoke/<profile>/ on fixture data (see Snakefile).
PROFILE = nmconfig.resolve_profile(
    nmconfig.validate_params(config), config["profile"], check_hparams=False
)
PLAN = {(j.rule, j.wildcards): j for j in nmplan.build_plan(PROFILE)}

# GPU jobs claim one unit of the `gpu` resource each (`--resources gpu=N`: N at once, each
# leasing its own device, noisymix.gpu). A machine without GPUs (no nvidia-smi, NOISYMIX_GPUS
# unset) runs the same jobs on its CPU cores, so there they claim none and run side by side.
GPU = 1 if os.environ.get("NOISYMIX_GPUS") or shutil.which("nvidia-smi") else 0


def _alternation(names):
    return "|".join(re.escape(str(n)) for n in sorted(set(names))) or "(?!)"


wildcard_constraints:
    dataset=_alternation(PROFILE.eval_datasets() + PROFILE.train_datasets()),
    arch=_alternation(PROFILE.run_archs()),
    method=_alternation(PROFILE.run_methods()),
    cell=_alternation(c.name for c in PROFILE.ablation.cells),
    target=_alternation(p.target for p in PROFILE.transfer.pairs),
    name=_alternation(
        PROFILE.eval_datasets() + PROFILE.train_datasets() + PROFILE.releases()
    ),
    profile=re.escape(PROFILE.name),
    seed=r"\d+",


# A run folder is written by `train` or by `import_model` (params.yaml models.source, and the
# AlexNet normaliser always imported): each rule matches only its own methods.
TRAINED_METHODS = _alternation(PROFILE.trained_methods())
IMPORTED_METHODS = _alternation(r.method for r, _ in PROFILE.import_runs())


def get_workdir():
    return PROFILE.workdir


# --- the plan's jobs -----------------------------------------------------------------------


def _job(rule, wildcards):
    key = (rule, tuple((k, str(v)) for k, v in wildcards.items()))
    try:
        return PLAN[key]
    except KeyError:
        raise ValueError(f"{rule} {dict(wildcards)} is not a job of profile {PROFILE.name}")


def get_inputs(rule):
    """Input function of ``rule``: the files its planned job reads."""

    def inputs(wildcards):
        return list(_job(rule, wildcards).inputs)

    return inputs


def get_cmd(rule):
    """The planned job's exact shell command (the `shell:` of every rule is `{params.cmd}`)."""

    def cmd(wildcards):
        return _job(rule, wildcards).cmd

    return cmd


def get_code(rule):
    """Hash of the library code ``rule`` runs: with `--rerun-triggers params`, editing that code
    reruns the rule's jobs (by content, so `dvc checkout`'s fresh mtimes change nothing)."""

    def code(wildcards):
        return nmplan.code_hash(rule)

    return code


# --- final targets -------------------------------------------------------------------------


def get_final_outputs():
    """The summary plus every evaluation table it is built from: results/<profile>/ is
    committed, so on a fresh clone the missing (uncommitted) tables are what makes the DAG
    run, and aggregate then rewrites the committed tables from real results."""
    (aggregate,) = [j for j in PLAN.values() if j.rule == "aggregate"]
    return [aggregate.outs[0], *aggregate.inputs]
