"""Every profile's whole DAG executed, not only planned: `--config profile=<p> scale=smoke`.

Each run is the README's Snakemake command at smoke scale, in a temporary copy of the workflow
files (the outputs land in its smoke/<profile>/): fixture data in the official layouts is
written by `noisymix fixtures`, fetched by `noisymix prepare` from that local mirror through
the real download/verify/extract code, and every rule runs with the real `noisymix` verbs on
tiny models. The run must end with every table its profile is for written and non-empty.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SNAKEMAKE.exists(), reason="snakemake not installed")]

# The paper tables each profile exists to produce (the rest of its index says "no data").
PAPER_TABLES = {
    "quick": [],
    "fashion": [],
    "cifar": [2, 3, 4, 7, 8, 9, 10, 13, 14],
    "imagenet": [1, 5, 6, 11, 12],
}
# Tables with another dataset's data in a paper table's layout (digits, Fashion-MNIST).
LAYOUT_TABLES = {
    "quick": ["robustness_digits_preactresnet18", "ablation_digits", "transfer_digits04",
              "per_corruption_digits_preactresnet18", "flip_probability_digits_preactresnet18",
              "calibration_digits"],
    "fashion": ["robustness_fashion-mnist_preactresnet18", "robustness_fashion-mnist_wrn",
                "transfer_fashion-mnist", "per_corruption_fashion-mnist_preactresnet18",
                "flip_probability_fashion-mnist_preactresnet18", "calibration_fashion-mnist"],
    "cifar": ["calibration_cifar10", "calibration_cifar100"],
    "imagenet": ["calibration_imagenet"],
}


@pytest.fixture
def workdir(tmp_path):
    for name in ("Snakefile", "params.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "workflow", tmp_path / "workflow")
    return tmp_path


@pytest.mark.parametrize("profile", ["quick", "fashion", "cifar", "imagenet"])
def test_profile_runs_end_to_end_at_smoke_scale(workdir, profile):
    r = subprocess.run([str(SNAKEMAKE), "--profile", "workflow/profiles/local", "--config",
                        f"profile={profile}", "scale=smoke"], cwd=workdir, capture_output=True,
                       text=True, timeout=1800)
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    run = workdir / "smoke" / profile
    assert not (workdir / "results").exists()  # smoke outputs stay in their own folder
    out = run / "results" / profile
    summary = json.loads((out / "summary.json").read_text())
    index = {e["table"]: e for e in summary["index"]}
    for num in PAPER_TABLES[profile]:
        entry = index[f"Table {num}"]
        assert entry["files"], f"Table {num} not written: {entry}"
    written = set(summary["tables"])
    assert set(LAYOUT_TABLES[profile]) <= written, written
    for name in written:
        for ext in ("md", "csv", "parquet"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0
    assert summary["figures"]
    for fig in summary["figures"]:
        assert (out / "figures" / f"{fig}.png").stat().st_size > 0
    # the fixtures went through prepare's mirror download (checksums verified, extracted)
    for marker in (run / "results" / "data").glob("*.json"):
        assert json.loads(marker.read_text())["dataset"] == marker.stem
    # a second run has nothing to do
    again = subprocess.run([str(SNAKEMAKE), "-n", "--profile", "workflow/profiles/local",
                            "--config", f"profile={profile}", "scale=smoke"], cwd=workdir,
                           capture_output=True, text=True, timeout=300)
    assert "Nothing to be done" in again.stdout + again.stderr
