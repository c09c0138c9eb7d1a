"""Metrics, report and remote: the pipeline's outputs as `dvc metrics show`, `snakemake
--report` and `dvc push`/`dvc pull` see them.

No dataset and no training: a stub `noisymix` on PATH writes tiny outputs for every verb (small
flat eval.json metrics, one table and one figure), so each engine runs the quick profile's whole
DAG in seconds, in temporary folders (nothing lands in the repository, no network).
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SNAKEMAKE, DVC = BIN / "snakemake", BIN / "dvc"

STUB = r"""#!/usr/bin/env python3
# Stand-in for `noisymix [--log FILE] [--threads N] VERB ...`: tiny outputs for every verb.
import json, os, sys
argv = sys.argv[1:]
while argv[0] in ("--threads", "--log"):
    if argv[0] == "--log":
        os.makedirs(os.path.dirname(argv[1]) or ".", exist_ok=True)
        open(argv[1], "w").write("stub\n")
    argv = argv[2:]
verb, args = argv[0], argv[1:]
opt = lambda k: args[args.index(k) + 1] if k in args else None
out = opt("--out")
def write(path, text=""):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    open(path, "w").write(text)
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55"
                    "0000000a49444154789c636000000002000148afa4710000000049454e44ae426082")
if verb in ("train", "finetune"):
    for f in ("model.safetensors", "model.json"): write(os.path.join(out, f), " ".join(args))
elif verb in ("corrupt", "perturb"):
    for f in ("labels.npy", "manifest.json"): write(os.path.join(out, f), "{}")
elif verb == "fixtures":
    write(os.path.join(out, "mirror.json"), "{}")
elif verb == "toy":
    for f in ("toy.json", "toy.png", "toy_grid.npz"): write(os.path.join(out, f), "{}")
elif verb == "eval":
    write(out, " ".join(args))
    write(opt("--json"), json.dumps({"clean_accuracy": 0.5, "c_robust_accuracy": 0.4}))
elif verb == "aggregate":
    write(os.path.join(out, "tables", "robustness_digits.md"), "| a |\n|---|\n| 1 |\n")
    write(os.path.join(out, "tables", "robustness_digits.csv"), "a,b\n1,2\n")
    write(os.path.join(out, "tables", "plot_accuracy.csv"),
          "dataset,arch,method,clean_accuracy,robust_accuracy\ndigits,a,erm,90.0,80.0\n")
    os.makedirs(os.path.join(out, "figures"), exist_ok=True)
    open(os.path.join(out, "figures", "robust_accuracy_digits.png"), "wb").write(PNG)
    write(os.path.join(out, "summary.json"), "{}")
else:  # prepare
    write(out, "{}")
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (SNAKEMAKE.exists() and DVC.exists()), reason="snakemake/dvc missing"),
]


def run(cmd, cwd, env, timeout=300):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
    assert r.returncode == 0, f"{cmd}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout + r.stderr


@pytest.fixture
def env(tmp_path):
    """Environment with the stub first on PATH, no DVC analytics, a git identity."""
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir()
    stub = stub_dir / "noisymix"
    stub.write_text(STUB.replace("#!/usr/bin/env python3", f"#!{sys.executable}"))
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    ident = {f"GIT_{w}_{k}": v for w in ("AUTHOR", "COMMITTER")
             for k, v in (("NAME", "test"), ("EMAIL", "test@example.com"))}
    return dict(os.environ, PATH=f"{stub_dir}{os.pathsep}{os.environ['PATH']}",
                DVC_NO_ANALYTICS="1", GIT_CONFIG_NOSYSTEM="1", HOME=str(tmp_path), **ident)


def copy_workflow(dest: Path, dvc: bool = False) -> Path:
    dest.mkdir()
    for name in ("Snakefile", "params.yaml") + (("dvc.yaml", ".dvcignore", ".gitignore")
                                                if dvc else ()):
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "workflow", dest / "workflow")
    if dvc:  # the stages' code dependencies
        shutil.copytree(ROOT / "noisymix", dest / "noisymix",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def test_committed_dvc_config_has_a_default_local_remote_outside_the_repository():
    text = (ROOT / ".dvc/config").read_text()
    assert "remote = storage" in text
    url = text.split("url = ")[1].split()[0]
    # relative URLs in .dvc/config are relative to .dvc/: this is the repository's sibling
    assert (ROOT / ".dvc" / url).resolve() == ROOT.parent / "noisymix-dvc-storage"


def test_snakemake_report_holds_tables_and_figures(tmp_path, env):
    wf = copy_workflow(tmp_path / "wf")
    run([SNAKEMAKE, "--cores", "2", "--profile", "workflow/profiles/local"], wf, env)
    assert (wf / "results/quick/tables/robustness_digits.csv").exists()
    run([SNAKEMAKE, "--profile", "workflow/profiles/local", "--report", "report.html"], wf, env)
    html = (wf / "report.html").read_text()  # self-contained: files embedded as data URLs
    for needle in ('"robustness_digits.csv"', '"robust_accuracy_digits.png"', '"Tables"',
                   '"Figures"', "arXiv:2202.01263"):
        assert needle in html, needle
    # the captions are rendered per file, with the pattern's and the rule's wildcards
    assert re.search(r"robustness_digits</tt> of profile <tt[^>]*>quick</tt>", html)


def test_dvc_repro_metrics_push_and_pull_on_a_clone(tmp_path, env):
    repo, storage = copy_workflow(tmp_path / "repo", dvc=True), tmp_path / "storage"
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run([DVC, "init", "-q"], repo, env)
    run([DVC, "config", "core.autostage", "true"], repo, env)
    run([DVC, "remote", "add", "-d", "storage", storage], repo, env)
    run([DVC, "repro"], repo, env)

    evals = sorted(str(p.relative_to(repo)) for p in repo.glob("results/runs/**/eval.json"))
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    assert evals and len(evals) == sum("metrics" in s for s in stages.values())
    shown = run([DVC, "metrics", "show"], repo, env)
    header = shown.splitlines()[0].split()
    assert header[0] == "Path" and "clean_accuracy" in header and "c_robust_accuracy" in header
    rows = [line.split() for line in shown.splitlines()[1:] if line.strip()]
    assert sorted(r[0] for r in rows) == evals          # one row per run
    assert all(r[header.index("clean_accuracy")] == "0.5" for r in rows)

    # plots: the figures and bars from the accuracy table render
    plots = run([DVC, "plots", "show", "--json"], repo, env)
    data = json.loads(plots)["data"]
    assert "results/quick/figures/robust_accuracy_digits.png" in data
    (bars,) = data["clean and -C accuracy (%)"]
    assert bars["content"]["data"]["values"][0]["method"] == "erm"

    run([DVC, "push"], repo, env)
    run(["git", "add", "-A"], repo, env)
    run(["git", "commit", "-q", "-m", "stub run"], repo, env)

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", repo, clone], tmp_path, env)
    metric = evals[-1]
    model = str(Path(metric).with_name("model.safetensors"))
    assert not (clone / model).exists() and not (clone / metric).exists()
    run([DVC, "pull"], clone, env)
    for f in (model, metric):
        assert (clone / f).read_bytes() == (repo / f).read_bytes(), f
    assert json.loads((clone / metric).read_text())["clean_accuracy"] == 0.5
    assert "up to date" in run([DVC, "status"], clone, env).lower()

    # `dvc metrics diff`: a changed run is one row, workspace against the last commit
    (clone / metric).write_text(json.dumps({"clean_accuracy": 0.6, "c_robust_accuracy": 0.4}))
    diff = run([DVC, "metrics", "diff"], clone, env).splitlines()
    assert diff[0].split() == ["Path", "Metric", "HEAD", "workspace", "Change"]
    assert [line.split() for line in diff[1:] if line.strip()] == [
        [metric, "clean_accuracy", "0.5", "0.6", "0.1"]]


def test_snakemake_outputs_are_the_dvc_stages_outputs_and_survive_checkout(tmp_path, env):
    """Snakemake runs the DAG; DVC, given the same commands, records those outputs as its own
    (`dvc commit`), finds nothing to do, and after `dvc checkout` (fresh mtimes) Snakemake
    has nothing to do either (its profile reruns on content, not mtime)."""
    repo = copy_workflow(tmp_path / "repo", dvc=True)
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run([DVC, "init", "-q"], repo, env)
    run([SNAKEMAKE, "--cores", "2", "--profile", "workflow/profiles/local"], repo, env)
    run([DVC, "commit", "-f"], repo, env)
    assert "up to date" in run([DVC, "status"], repo, env).lower()
    model = repo / "results/runs/digits/preactresnet18/erm/seed0/model.safetensors"
    manifest = repo / "results/benchmarks/digits-c/manifest.json"
    for f in (model, manifest):
        f.unlink()
    run([DVC, "checkout"], repo, env)
    assert model.exists() and manifest.exists()
    out = run([SNAKEMAKE, "-n", "--profile", "workflow/profiles/local"], repo, env)
    assert "Nothing to be done" in out, out[-2000:]


def _changed_stages(repo, env) -> set[str]:
    """Stages `dvc status` reports as changed (their names, without the file prefix)."""
    out = run([DVC, "status", "--json"], repo, env)
    return {name.split(":")[-1] for name in json.loads(out or "{}")}


def test_dvc_reruns_only_what_a_change_touches(tmp_path, env):
    """Under DVC too: a scheme hyper-parameter (regenerated dvc.yaml) reruns its branch only,
    the report code only aggregation, the README nothing."""
    from noisymix.pipeline.dvc import generate

    repo = copy_workflow(tmp_path / "repo", dvc=True)
    shutil.copy(ROOT / "README.md", repo / "README.md")
    run(["git", "init", "-q", "-b", "main"], repo, env)
    run([DVC, "init", "-q"], repo, env)
    run([DVC, "repro"], repo, env)
    assert _changed_stages(repo, env) == set()

    (repo / "README.md").write_text("edited\n")
    assert _changed_stages(repo, env) == set()

    tables = repo / "noisymix/report/tables.py"
    tables.write_text(tables.read_text() + "\n# an edit\n")
    assert _changed_stages(repo, env) == {"aggregate-quick"}
    run([DVC, "repro"], repo, env)

    params = (repo / "params.yaml").read_text()
    edited = params.replace("noisymix: {add_level: 0.5,", "noisymix: {add_level: 0.4,", 1)
    assert edited != params
    (repo / "params.yaml").write_text(edited)
    (repo / "dvc.yaml").write_text(generate(repo / "params.yaml")["dvc.yaml"])
    changed = _changed_stages(repo, env)
    assert {"train-digits-preactresnet18-noisymix-0",
            "train-digits04-preactresnet18-noisymix-0"} <= changed
    assert {s.split("-")[0] for s in changed} == {"train", "train_ablation"}
    assert not any("erm" in s or "mixup" in s for s in changed)
