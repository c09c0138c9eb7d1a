"""One plan, two engines: the generated dvc.yaml files, their commands against Snakemake's, and
code as an input at the grain of subpackages (noisymix.pipeline)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from noisymix.config import load_config
from noisymix.pipeline.dvc import dvc_path, generate
from noisymix.pipeline.plan import CODE, build_plan, code_files

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
PROFILES = ["quick", "fashion", "cifar", "imagenet"]


def test_plan_is_torch_free():
    code = ("import sys; from noisymix.config import load_config; "
            "from noisymix.pipeline.plan import build_plan; from noisymix.pipeline.dvc import "
            "generate; generate('params.yaml'); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_committed_dvc_yaml_files_equal_the_plan():
    for rel, text in generate(ROOT / "params.yaml").items():
        path = ROOT / rel
        assert path.exists(), f"{rel} missing: run `noisymix dvc-yaml`"
        assert path.read_text() == text, f"{rel} is stale: run `noisymix dvc-yaml`"


def _path(name, scale="full"):
    return dvc_path(load_config(ROOT / "params.yaml", name, scale=scale))


def test_every_profile_and_scale_has_its_dvc_yaml_in_its_own_folder():
    assert _path("quick") == "dvc.yaml"
    assert _path("cifar") == "pipelines/cifar/dvc.yaml"
    assert _path("imagenet", "smoke") == "smoke/imagenet/dvc.yaml"
    files = generate(ROOT / "params.yaml")
    assert len(files) == 2 * len(PROFILES)
    # DVC reads them all as one graph: no output may be written by two stages
    outs = [(path, o if isinstance(o, str) else next(iter(o)))
            for path, text in files.items()
            for s in yaml.safe_load(text.split("\n", 3)[3])["stages"].values()
            for o in s.get("outs", []) + s.get("metrics", [])]
    resolved = [str((Path(path).parent / o)) for path, o in outs]
    assert len(resolved) == len(set(resolved))


def test_stages_are_jobs_with_code_deps():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    p = load_config(ROOT / "params.yaml", "quick")
    jobs = build_plan(p)
    assert list(stages) == [j.name for j in jobs] and len(set(stages)) == len(jobs)
    train = stages["train-digits-preactresnet18-noisymix-0"]
    # hyper-parameters are in the command, so changing one reruns this stage and its consumers
    assert "--param add_level=0.5" in train["cmd"] and "--param mult_level=0.5" in train["cmd"]
    assert "noisymix/methods" in train["deps"] and "noisymix/report" not in train["deps"]
    agg = stages["aggregate-quick"]
    assert "noisymix/report" in agg["deps"] and "noisymix/methods" not in agg["deps"]
    assert {"results/quick/tables": {"cache": False}} in agg["outs"]
    ev = stages["eval_ablation-digits-preactresnet18-mix_noise-0"]
    assert "--kind ablation --ablation-cell mix_noise" in ev["cmd"]
    assert ev["metrics"] == ["results/runs/digits/preactresnet18/ablation/mix_noise/seed0/eval.json"]
    # every corruption name reaches the command (the old hand-kept file passed none)
    assert "--corruptions gaussian_noise,shot_noise" in stages["corrupt-digits"]["cmd"]


def test_stages_run_in_their_profile_folder():
    for path in ("smoke/cifar/dvc.yaml", "pipelines/cifar/dvc.yaml"):
        stages = yaml.safe_load((ROOT / path).read_text())["stages"]
        for s in stages.values():
            assert "wdir" not in s  # the dvc.yaml lives in the profile's working directory
            code = [d for d in s["deps"] if not d.startswith(("results/", "fixtures/"))]
            assert code and all(d.startswith("../../noisymix/") for d in code), code


def _rules_using(path: str) -> set[str]:
    return {rule for rule in CODE if path in code_files(rule)}


def test_code_is_an_input_at_the_grain_of_subpackages():
    assert _rules_using("noisymix/report/tables.py") == {"aggregate"}
    assert _rules_using("noisymix/corruptions/noise.py") == {"corrupt", "perturb"}
    assert _rules_using("noisymix/methods/mixup.py") == {"train", "train_ablation", "finetune",
                                                         "toy"}
    assert _rules_using("noisymix/metrics/calibration.py") == {"eval", "eval_ablation",
                                                               "eval_transfer"}
    for untouched in ("README.md", "tests/test_plan.py", "noisymix/cli/train.py"):
        assert _rules_using(untouched) == set()


def _snakemake_commands(workdir: Path, profile: str, scale: str) -> set[str]:
    r = subprocess.run([str(SNAKEMAKE), "-n", "-p", "--cores", "2", "--config",
                        f"profile={profile}", f"scale={scale}"], cwd=workdir,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    found = set(re.findall(r"^Shell command: (.+)$", r.stdout + r.stderr, re.M))
    return found - {"None"}  # rule all runs nothing


@pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed")
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("scale", ["full", "smoke"])
def test_dvc_commands_equal_snakemake_commands(tmp_path, profile, scale):
    for name in ("Snakefile", "params.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "workflow", tmp_path / "workflow")
    snake = _snakemake_commands(tmp_path, profile, scale)
    stages = yaml.safe_load((ROOT / _path(profile, scale)).read_text())["stages"]
    dvc = {s["cmd"] for s in stages.values()}
    assert snake == dvc
