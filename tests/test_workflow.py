"""The Snakemake DAG: dry runs of every profile, lint, and the params rerun trigger.

Runs in a temporary copy of the workflow files so that nothing (.snakemake/, results/) lands in
the repository. No dataset is needed: dry runs only plan, and the rerun test replaces the
`noisymix` executable by a stub that writes empty outputs.
"""

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
pytestmark = pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed")

STUB = r"""#!/usr/bin/env python3
# Stand-in for `noisymix <verb>`: creates the declared outputs, empty.
import os, sys
argv = sys.argv[1:]
while argv[0] in ("--threads", "--log"):  # the group options every rule passes
    if argv[0] == "--log":
        os.makedirs(os.path.dirname(argv[1]), exist_ok=True); open(argv[1], "w").close()
    argv = argv[2:]
verb, args = argv[0], argv[1:]
opt = lambda k: args[args.index(k) + 1] if k in args else None
out, js = opt("--out"), opt("--json")
if verb in ("train", "finetune", "import"):
    os.makedirs(out, exist_ok=True)
    for f in ("model.safetensors", "model.json"):
        open(os.path.join(out, f), "w").write(" ".join(args))
elif verb in ("corrupt", "perturb"):
    os.makedirs(out, exist_ok=True)
    for f in ("labels.npy", "manifest.json"): open(os.path.join(out, f), "w").close()
elif verb == "toy":
    os.makedirs(out, exist_ok=True)
    for f in ("toy.json", "toy.png", "toy_grid.npz"): open(os.path.join(out, f), "w").close()
elif verb == "aggregate":
    for d in ("tables", "figures"): os.makedirs(os.path.join(out, d), exist_ok=True)
    open(os.path.join(out, "summary.json"), "w").write("{}")
else:  # prepare, eval
    for f in (out, js):
        if f:
            os.makedirs(os.path.dirname(f), exist_ok=True); open(f, "w").write("{}")
"""


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("wf")
    for name in ("Snakefile", "params.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, d / name)
    shutil.copytree(ROOT / "workflow", d / "workflow")
    return d


def snakemake(cwd, *args, env=None):
    r = subprocess.run([str(SNAKEMAKE), *args], cwd=cwd, capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r.stdout + r.stderr


def job_counts(text):
    block = text[text.index("Job stats:"):]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", block, re.M)}


def test_quick_dry_run_plans_every_stage(workdir):
    counts = job_counts(snakemake(workdir, "-n", "--profile", "workflow/profiles/local"))
    # digits, and the transfer pair digits04 -> digits59: 8 main runs + 3 transfer sources
    assert counts == {"prepare": 3, "toy": 1, "corrupt": 2, "perturb": 1, "train": 11,
                      "train_ablation": 3, "eval": 8, "eval_ablation": 3, "finetune": 3,
                      "eval_transfer": 3, "aggregate": 1, "all": 1, "total": 40}


def test_cifar_dry_run_with_four_gpus(workdir):
    counts = job_counts(snakemake(workdir, "-n", "--cores", "16", "--config", "profile=cifar",
                                  "--resources", "gpu=4"))
    # 2 datasets × 2 nets × 8 methods × 5 seeds; Table 4's 10 cells × 5 seeds on the WRN
    assert counts["train"] == 2 * 2 * 8 * 5 and counts["train_ablation"] == 10 * 5
    assert counts["eval"] == 160 and counts["prepare"] == 4  # cifar10/100 + their -C releases
    assert "corrupt" not in counts and counts["perturb"] == 2


def test_imagenet_dry_run_on_slurm_profile(workdir):
    out = snakemake(workdir, "-n", "--profile", "workflow/profiles/slurm",
                    "--config", "profile=imagenet")
    counts = job_counts(out)
    # Table 1 from public checkpoints: 5 ResNet-50s + the AlexNet normaliser imported, not
    # trained; transfer fine-tunes the 5 ResNet-50s on CIFAR-10 and CIFAR-100
    assert "train" not in counts and counts["import_model"] == 6 and counts["eval"] == 6
    assert counts["finetune"] == 10 and counts["eval_transfer"] == 10
    assert "slurm_partition=gpu" in out


def test_imagenet_dry_run_plans_imports_and_evaluation_not_training(workdir):
    out = snakemake(workdir, "-n", "--config", "profile=imagenet", "--resources", "gpu=4",
                    "--cores", "4")
    counts = job_counts(out)
    assert "train" not in counts and counts["import_model"] == 6 and counts["eval"] == 6
    assert "results/runs/imagenet/alexnet/alexnet/seed0/eval.parquet" in out


def test_imagenet_train_option_trains_the_grid_and_imports_alexnet(workdir):
    params = (workdir / "params.yaml").read_text()
    edited = params.replace("      source: import\n", "      source: train\n", 1)
    assert edited != params
    (workdir / "params.yaml").write_text(edited)
    counts = job_counts(snakemake(workdir, "-n", "--config", "profile=imagenet", "--cores", "1"))
    assert counts["train"] == 8 and counts["import_model"] == 1 and counts["eval"] == 9
    assert counts["finetune"] == 16


def test_lint_has_only_the_environment_warning(workdir):
    r = subprocess.run([str(SNAKEMAKE), "--lint", "--cores", "1"], cwd=workdir,
                       capture_output=True, text=True, timeout=300)
    lints = set(re.findall(r"^    \* (.+?):?$", r.stdout + r.stderr, re.M))
    # We run from a uv venv, not per-rule conda envs or containers.
    assert lints <= {"Specify a conda environment or container for each rule."}, lints


def test_changed_hyper_parameter_reruns_only_its_branch(workdir, tmp_path):
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir()
    stub = stub_dir / "noisymix"
    stub.write_text(STUB.replace("#!/usr/bin/env python3", f"#!{sys.executable}"))
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f"{stub_dir}{os.pathsep}{os.environ['PATH']}")
    snakemake(workdir, "--cores", "2", "--profile", "workflow/profiles/local", env=env)
    assert (workdir / "results/quick/summary.json").exists()
    out = snakemake(workdir, "-n", "--profile", "workflow/profiles/local", env=env)
    assert "Nothing to be done" in out

    params = (workdir / "params.yaml").read_text()
    edited = params.replace("noisymix: {add_level: 0.5,", "noisymix: {add_level: 0.4,", 1)
    assert edited != params
    (workdir / "params.yaml").write_text(edited)
    try:
        counts = job_counts(snakemake(workdir, "-n", "--profile", "workflow/profiles/local",
                                      "--rerun-triggers", "params", env=env))
    finally:
        (workdir / "params.yaml").write_text(params)
    # The noisymix runs (digits, and digits04 as a transfer source) and the 3 ablation cells
    # (NoisyMix with switches) retrain; nothing else.
    assert counts["train"] == 2 and counts["train_ablation"] == 3
    assert counts["eval"] == 1 and counts["eval_ablation"] == 3
    assert counts["finetune"] == 1 and counts["eval_transfer"] == 1
    assert "prepare" not in counts and "corrupt" not in counts and "toy" not in counts


def test_code_change_reruns_only_what_runs_that_code(tmp_path):
    """Editing the report code reruns aggregation only; a corruption module the -C generation
    and what reads it; the README nothing (the plan's per-subpackage code hash, a param)."""
    import noisymix

    wd = tmp_path / "wf"
    wd.mkdir()
    for name in ("Snakefile", "params.yaml", "README.md"):
        shutil.copy(ROOT / name, wd / name)
    shutil.copytree(ROOT / "workflow", wd / "workflow")
    pkg = tmp_path / "pkg"
    shutil.copytree(Path(noisymix.__file__).parent, pkg / "noisymix",
                    ignore=shutil.ignore_patterns("__pycache__"))
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir()
    stub = stub_dir / "noisymix"
    stub.write_text(STUB.replace("#!/usr/bin/env python3", f"#!{sys.executable}"))
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    # Snakemake imports the copied package (PYTHONPATH comes first), so its code is what we edit
    env = dict(os.environ, PATH=f"{stub_dir}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=str(pkg))
    snakemake(wd, "--cores", "2", "--profile", "workflow/profiles/local", env=env)

    def planned_after(edit: Path):
        original = edit.read_text()
        edit.write_text(original + "\n# an edit\n")
        try:
            out = snakemake(wd, "-n", "--profile", "workflow/profiles/local", env=env)
        finally:
            edit.write_text(original)
        return {} if "Nothing to be done" in out else job_counts(out)

    assert planned_after(wd / "README.md") == {}
    counts = planned_after(pkg / "noisymix/report/tables.py")
    assert counts == {"aggregate": 1, "all": 1, "total": 2}
    counts = planned_after(pkg / "noisymix/corruptions/noise.py")
    assert counts["corrupt"] == 2 and counts["perturb"] == 1
    assert "train" not in counts and "prepare" not in counts and "toy" not in counts
    assert counts["eval"] == 8 and counts["eval_ablation"] == 3 and counts["eval_transfer"] == 3
    counts = planned_after(pkg / "noisymix/methods/cutmix.py")
    assert counts["train"] == 11 and "corrupt" not in counts  # every training imports methods
