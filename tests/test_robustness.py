"""noisymix eval over clean, -C, -P and FGSM: rows against direct computations."""

import json
import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from noisymix.checkpoint import save_model
from noisymix.cli import main
from noisymix.corruptions.writer import corrupt_arrays
from noisymix.perturbations import perturb_arrays
from noisymix.robustness import COLUMNS, detect_layout, evaluate, resolve_benchmark


@pytest.fixture(scope="module")
def setup(tmp_path_factory, digits_test):
    from noisymix.models import create_model

    root = tmp_path_factory.mktemp("bench")
    torch.manual_seed(0)
    model = create_model("preactresnet18", 10, 0.0625).eval()
    meta = {"arch": "preactresnet18", "width": 0.0625, "num_classes": 10, "mean": [0.5] * 3,
            "std": [0.5] * 3, "dataset": "digits", "method": "erm", "seed": 3,
            "config_hash": "abc", "image_size": 32, "classes": [str(i) for i in range(10)]}
    save_model(root / "run" / "model.safetensors", model, meta)
    images, labels = digits_test.images[:24], digits_test.labels[:24]
    corrupt_arrays(images, root / "tiny-c", "cifar",
                   corruptions=["gaussian_noise", "contrast", "speckle_noise"], labels=labels,
                   progress=False)
    perturb_arrays(images[:6], root / "tiny-p", "cifar",
                   perturbations=["gaussian_noise", "translate"], labels=labels[:6], progress=False)
    return root, model, images, labels


def _acc(model, x):
    with torch.no_grad():
        return model(torch.from_numpy(np.array(x)).permute(0, 3, 1, 2).float() / 255).argmax(1)


def test_rows_match_direct_computation(setup):
    root, model, images, labels = setup
    df = evaluate(root / "run" / "model.safetensors", ["clean", str(root / "tiny-c"),
                  str(root / "tiny-p")], fgsm_eps=8 / 255, limit=24, device="cpu",
                  batch_size=7, run="r0", extra_corruptions=True, allow_subset=True)
    assert list(df.columns) == COLUMNS
    # 3 of 19 corruptions, 2 of 10 perturbations: evaluated only as labelled subsets
    assert set(df[df.subset].benchmark) == {"tiny-c", "tiny-p"} and not df[~df.subset].empty
    assert dict(zip(df.benchmark, df.benchmark_kind)) == {
        "clean": "clean", "fgsm": "fgsm", "tiny-c": "-c", "tiny-p": "-p"}
    assert (df.run == "r0").all() and (df.seed == 3).all() and (df.method == "erm").all()
    # clean accuracy on the first 24 test images
    clean = df.query("benchmark == 'clean' and metric == 'accuracy'").value.item()
    full = __import__("noisymix.data", fromlist=["x"]).load_dataset("digits", "test")
    pred = _acc(model, full.images[:24])
    assert clean == pytest.approx(float((pred.numpy() == full.labels[:24]).mean()))
    # per corruption × severity, against the written arrays (severity s = block s)
    c = np.load(root / "tiny-c" / "contrast.npy")
    for s in range(1, 6):
        block = c[(s - 1) * 24:s * 24]
        want = float((_acc(model, block).numpy() == labels).mean())
        got = df.query("benchmark == 'tiny-c' and corruption == 'contrast' and severity == @s"
                       " and metric == 'accuracy'").value.item()
        assert got == pytest.approx(want)
    # a subset of the 15 → labelled as a subset, mean over the test corruptions present only
    ra = df.query("benchmark == 'tiny-c' and metric == 'robust_accuracy'")
    sub = ra[ra.corruption_set.str.startswith("subset:")]
    per = df.query("benchmark == 'tiny-c' and metric == 'accuracy' and severity > 0 and "
                   "corruption in ['gaussian_noise', 'contrast']").value
    assert sub.value.item() == pytest.approx(per.mean())
    assert set(df.query("corruption == 'speckle_noise'").corruption_set) == {"all19"}
    # -P: flip probability per perturbation, noise compared with the first frame
    seq = np.load(root / "tiny-p" / "translate.npy")
    preds = torch.stack([_acc(model, seq[i]) for i in range(len(seq))])
    fp = float((preds[:, 1:] != preds[:, :-1]).float().mean())
    got = df.query("benchmark == 'tiny-p' and corruption == 'translate' and "
                   "metric == 'flip_probability'").value.item()
    assert got == pytest.approx(fp)
    seq = np.load(root / "tiny-p" / "gaussian_noise.npy")
    preds = torch.stack([_acc(model, seq[i]) for i in range(len(seq))])
    fp = float((preds[:, 1:] != preds[:, :1]).float().mean())
    got = df.query("benchmark == 'tiny-p' and corruption == 'gaussian_noise' and "
                   "metric == 'flip_probability'").value.item()
    assert got == pytest.approx(fp)
    assert df.query("benchmark == 'fgsm'").value.item() <= clean + 1e-9
    assert {"rms_calibration_error", "ece", "aurra"} <= set(df.query("benchmark == 'clean'").metric)
    # reliability bins: counts add up to the test set, weighted bin accuracy = accuracy
    rel = df[df.metric.str.startswith("reliability_acc_bin")]
    assert rel.n_images.sum() == 24
    assert (rel.value * rel.n_images).sum() / 24 == pytest.approx(clean)


def test_full_15_gives_robust_accuracy_with_and_without_noise(setup, tmp_path):
    root, model, images, labels = setup
    from noisymix.corruptions import TEST_CORRUPTIONS

    # identical copies of the clean images stand in for every corruption: robust = clean
    d = tmp_path / "fake-c"
    d.mkdir()
    for c in TEST_CORRUPTIONS:
        np.save(d / f"{c}.npy", np.concatenate([images] * 5))
    np.save(d / "labels.npy", np.tile(labels, 5))
    df = evaluate(root / "run" / "model.safetensors", [str(d)], device="cpu")
    acc = float((_acc(model, images).numpy() == labels).mean())
    ra = df.query("metric == 'robust_accuracy'")
    assert ra.value.item() == pytest.approx(acc) and ra.corruption_set.item() == "test15"
    assert ra.n_images.item() == 15 * 5 * 24
    assert df.query("metric == 'robust_accuracy_no_noise'").value.item() == pytest.approx(acc)
    assert "mce" not in set(df.metric)  # AlexNet constants are ImageNet's only


def test_layout_detection_and_bad_benchmarks(tmp_path, setup):
    root = setup[0]
    assert detect_layout(root / "tiny-c") == "c" and detect_layout(root / "tiny-p") == "p"
    with pytest.raises(ValueError, match="not a -C"):
        detect_layout(tmp_path)
    with pytest.raises(ValueError, match="neither 'clean'"):
        resolve_benchmark("cifar11-c", None)
    with pytest.raises(FileNotFoundError, match="noisymix fetch cifar10-c"):
        resolve_benchmark("cifar10-c", str(tmp_path))


def test_cli_eval_writes_parquet_and_json(setup, tmp_path):
    root = setup[0]
    res = CliRunner().invoke(main, ["eval", "--ckpt", str(root / "run" / "model.safetensors"),
                                    "--benchmark", "clean", "--benchmark", str(root / "tiny-p"),
                                    "--device", "cpu", "--out", str(tmp_path / "r.parquet"),
                                    "--json", str(tmp_path / "r.json"), "--allow-subset"])
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(tmp_path / "r.parquet")
    assert set(df.benchmark) == {"clean", "tiny-p"} and "mfr" in set(df.metric)
    # the rows say what the run is; a plain checkpoint is a main run
    assert set(df.kind) == {"main"} and set(df.ablation_cell) == {""}
    flat = json.loads((tmp_path / "r.json").read_text())
    assert all(isinstance(v, float) for v in flat.values())  # flat: one row in dvc metrics show
    acc = df[(df.benchmark == "clean") & (df.metric == "accuracy")].value.item()
    assert flat["clean_accuracy"] == pytest.approx(acc, abs=1e-6)
    # 2 of the 10 perturbations: a subset's mFR never stands for the full set's
    assert "p_mfr" not in flat
    assert flat["p_subset_mfr"] == pytest.approx(df[df.metric == "mfr"].value.item(), abs=1e-6)
    assert not any("reliability" in k for k in flat)
    res = CliRunner().invoke(main, ["eval", "--ckpt", str(root / "run" / "model.safetensors"),
                                    "--kind", "ablation", "--device", "cpu"])
    assert res.exit_code != 0 and "--ablation-cell" in res.output


@pytest.mark.slow
def test_cli_corrupt_perturb_eval_end_to_end(tmp_path):
    """The issue's CLI path: train, corrupt digits (19 × 5), perturb, one eval call."""
    r = CliRunner()
    run = tmp_path / "run"
    assert r.invoke(main, ["train", "--dataset", "digits", "--width", "0.0625", "--method", "erm",
                           "--epochs", "1", "--train-subset", "128", "--out", str(run)]).exit_code == 0
    res = r.invoke(main, ["corrupt", "--dataset", "digits", "--split", "test", "--preset", "cifar",
                          "--limit", "16", "--out", str(tmp_path / "digits-c"), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert np.load(tmp_path / "digits-c" / "glass_blur.npy").shape == (80, 32, 32, 3)
    assert len(list((tmp_path / "digits-c").glob("*.npy"))) == 20  # 19 + labels
    import hashlib
    import json

    manifest = json.loads((tmp_path / "digits-c" / "manifest.json").read_text())
    assert len(manifest["files"]) == 20 and manifest["preset"] == "cifar"
    fog = (tmp_path / "digits-c" / "fog.npy").read_bytes()
    assert manifest["files"]["fog.npy"]["sha256"] == hashlib.sha256(fog).hexdigest()
    res = r.invoke(main, ["perturb", "--dataset", "digits", "--preset", "cifar", "--limit", "4",
                          "--out", str(tmp_path / "digits-p"), "--no-progress"])
    assert res.exit_code == 0, res.output
    res = r.invoke(main, ["eval", "--ckpt", str(run / "model.safetensors"), "--benchmark", "clean",
                          "--benchmark", str(tmp_path / "digits-c"), "--benchmark",
                          str(tmp_path / "digits-p"), "--fgsm-eps", "0.03",
                          "--out", str(tmp_path / "res.parquet")])
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(tmp_path / "res.parquet")
    assert set(df.benchmark) == {"clean", "digits-c", "digits-p", "fgsm"}
    assert len(df.query("benchmark == 'digits-c' and severity > 0")) == 15 * 5
    assert df.query("metric == 'robust_accuracy'").corruption_set.item() == "test15"
    res = r.invoke(main, ["corrupt", "--dataset", "digits", "--corruptions", "fogg",
                          "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "unknown corruption" in res.output
