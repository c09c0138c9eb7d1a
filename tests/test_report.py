"""The report package (noisymix.report) on hand-made rows: exact seed statistics and the
paper's table layouts (NoisyMix, arXiv:2202.01263, Tables 1–14)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from noisymix.report import (COLUMNS, aggregate, annotate, build_tables, index_entries,
                             load_results, prepare)
from noisymix.report.rows import PERTURBATIONS, TEST_CORRUPTIONS

NOISE_C = ("gaussian_noise", "shot_noise", "impulse_noise")


def identity(run):
    """What `noisymix eval --kind/--ablation-cell` writes for a run of the pipeline's layout
    (here read off the hand-made run ids; the report itself never parses them)."""
    parts = run.split("/")
    if "ablation" in parts:
        cell = parts[parts.index("ablation") + 1]
        on = set(cell.split("_"))
        return dict(kind="ablation", ablation_cell=cell, transfer_source="",
                    **{k: k in on for k in ("augment", "mix", "noise", "jsd")})
    if "transfer" in parts:
        return dict(kind="transfer", ablation_cell="", transfer_source=parts[2],
                    augment=False, mix=False, noise=False, jsd=False)
    return dict(kind="main", ablation_cell="", transfer_source="", augment=False, mix=False,
                noise=False, jsd=False)


def kind_of(benchmark):
    """What `noisymix eval` writes as benchmark_kind (from the manifest; names here are
    hand-made to say it)."""
    b = benchmark.lower()
    return b if b in ("clean", "fgsm") else b[-2:]


def r(run, dataset, arch, method, seed, benchmark, metric, value, corruption="", severity=0,
      corruption_set=""):
    return dict(run=run, dataset=dataset, arch=arch, width=1.0, method=method, seed=seed,
                config_hash="h", **identity(run), benchmark=benchmark,
                benchmark_kind=kind_of(benchmark), corruption=corruption,
                severity=severity, metric=metric, value=value, corruption_set=corruption_set,
                subset=False, n_images=100, precision="fp32")


def cifar_rows(dataset, arch, method, seed, clean, p=True):
    """clean; -C aggregates (robust = clean − .10, w/o noise = clean − .08) and per
    corruption i, severity s: clean − .01·s − .001·i; FGSM = clean − .5; clean RMS; and,
    with ``p``, -P flip probability of perturbation k: (.01·(k+1) + .002·seed)·scale."""
    run = f"results/runs/{dataset}/{arch}/{method}/seed{seed}"
    c = f"{dataset}-c"
    rows = [r(run, dataset, arch, method, seed, "clean", "accuracy", clean),
            r(run, dataset, arch, method, seed, "clean", "rms_calibration_error",
              0.05 + 0.01 * seed),
            r(run, dataset, arch, method, seed, c, "robust_accuracy", clean - 0.10, "all", 0,
              "test15"),
            r(run, dataset, arch, method, seed, c, "robust_accuracy", 0.01, "all", 0, "all19"),
            r(run, dataset, arch, method, seed, c, "robust_accuracy_no_noise", clean - 0.08,
              "all", 0, "test15"),
            r(run, dataset, arch, method, seed, "fgsm", "fgsm_accuracy", clean - 0.5,
              "eps=0.0313")]
    for i, cor in enumerate(TEST_CORRUPTIONS):
        accs = [clean - 0.01 * s - 0.001 * i for s in range(1, 6)]
        rows += [r(run, dataset, arch, method, seed, c, "accuracy", a, cor, s, "test15")
                 for s, a in zip(range(1, 6), accs)]
        rows.append(r(run, dataset, arch, method, seed, c, "accuracy", 0.0, cor, 0, "test15"))
    if p:
        scale = 1.0 if method == "erm" else 0.5
        fps = [(0.01 * (k + 1) + 0.002 * seed) * scale for k in range(len(PERTURBATIONS))]
        rows += [r(run, dataset, arch, method, seed, f"{dataset}-p", "flip_probability", v, pp)
                 for pp, v in zip(PERTURBATIONS, fps)]
        rows.append(r(run, dataset, arch, method, seed, f"{dataset}-p", "mfr",
                      sum(fps) / len(fps), "all"))
    return rows


def imagenet_rows(method, clean, robust, mce, r_acc, rms, aurra, fgsm):
    run = f"results/runs/imagenet/resnet50/{method}/seed0"
    a = ("imagenet", "resnet50", method, 0)
    scale = 1.0 if method == "erm" else 0.5
    fps = {pp: (0.02 if "noise" in pp else 0.01) * scale for pp in PERTURBATIONS}
    rows = [r(run, *a, "clean", "accuracy", clean),
            r(run, *a, "imagenet-c", "robust_accuracy", robust, "all", 0, "test15"),
            r(run, *a, "imagenet-c", "robust_accuracy_no_noise", robust + 0.02, "all", 0,
              "test15"),
            r(run, *a, "imagenet-c", "mce", mce, "all", 0, "test15"),
            r(run, *a, "imagenet-p", "mfr", sum(fps.values()) / len(fps), "all"),
            r(run, *a, "imagenet-p", "mt5d", 1.234, "all"),
            r(run, *a, "imagenet-r", "accuracy", r_acc),
            r(run, *a, "imagenet-r", "rms_calibration_error", rms),
            r(run, *a, "imagenet-r", "ece", 0.99),  # not in Table 11
            r(run, *a, "imagenet-r", "aurra", aurra),
            r(run, *a, "fgsm", "fgsm_accuracy", fgsm, "eps=0.0313")]
    rows += [r(run, *a, "imagenet-p", "flip_probability", v, pp) for pp, v in fps.items()]
    rows += [r(run, *a, "imagenet-c", "accuracy", 0.3 + 0.01 * i, c, s, "test15")
             for i, c in enumerate(TEST_CORRUPTIONS) for s in range(1, 6)]
    return rows


def all_rows() -> pd.DataFrame:
    rows = []
    base = {"erm": 0.80, "noisymix": 0.90}
    for dataset, shift in (("cifar10", 0.0), ("cifar100", -0.20)):
        for arch, bonus in (("preactresnet18", 0.0), ("wrn28_4", 0.02)):
            for method, b in base.items():
                for seed in (0, 1):  # clean: mean b + shift + bonus, min/max ±.01
                    rows += cifar_rows(dataset, arch, method, seed,
                                       b + shift + bonus - 0.01 + 0.02 * seed,
                                       p=(dataset, arch) == ("cifar10", "preactresnet18"))
    rows += imagenet_rows("erm", 0.76, 0.40, 0.70, 0.36, 0.20, 0.60, 0.10)
    rows += imagenet_rows("noisymix", 0.78, 0.50, 0.60, 0.40, 0.10, 0.70, 0.20)
    # ablation (Table 4): CIFAR-100 PreActResNet-18
    for cell, seed, acc in (("augment_mix_jsd", 0, 0.60), ("augment_mix_jsd", 1, 0.64),
                            ("none", 0, 0.50), ("mix_noise", 0, 0.55)):
        run = f"results/runs/cifar100/preactresnet18/ablation/{cell}/seed{seed}"
        rows.append(r(run, "cifar100", "preactresnet18", "noisymix", seed, "clean", "accuracy",
                      acc))
    # transfer (Table 5): ImageNet ResNet-50 → CIFAR-10 / CIFAR-100
    for method, t10, t100 in (("erm", 0.95, 0.80), ("noisymix", 0.96, 0.82)):
        for target, acc in (("cifar10", t10), ("cifar100", t100)):
            run = f"results/runs/imagenet/resnet50/{method}/seed0/transfer/{target}"
            rows.append(r(run, target, "resnet50", method, 0, "clean", "accuracy", acc))
            rows.append(r(run, target, "resnet50", method, 0, f"{target}-c", "robust_accuracy",
                          acc - 0.2, "all", 0, "test15"))
    # a dataset the paper does not use
    rows.append(r("results/runs/digits/preactresnet18/erm/seed0", "digits", "preactresnet18",
                  "erm", 0, "clean", "accuracy", 0.5))
    return pd.DataFrame(rows, columns=COLUMNS)


@pytest.fixture(scope="module")
def tables():
    return {t.name: t for t in build_tables(prepare(all_rows()))}


def md_rows(table) -> list[str]:
    """The Markdown table's header and body lines (without the |---| rule)."""
    return [line for line in table.markdown().splitlines() if line.startswith("| ")]


def cell(table, **where) -> pd.Series:
    st = table.stats
    for k, v in where.items():
        st = st[st[k] == v]
    assert len(st) == 1, (where, st)
    return st.iloc[0]


def test_table_names_and_index(tables):
    assert list(tables) == [
        "table01_robustness_imagenet", "table02_robustness_cifar_preactresnet18",
        "robustness_digits_preactresnet18", "table03_robustness_cifar_wrn", "table04_ablation",
        "table05_transfer", "table06_per_corruption_imagenet",
        "table07_per_corruption_cifar10_preactresnet18",
        "table08_per_corruption_cifar100_preactresnet18", "table09_per_corruption_cifar10_wrn",
        "table10_per_corruption_cifar100_wrn", "table11_calibration_imagenet-r",
        "table12_flip_probability_imagenet", "table13_flip_probability_cifar10_preactresnet18",
        "calibration_cifar10", "calibration_cifar100"]
    assert tables["robustness_digits_preactresnet18"].title.startswith("Table 2 layout:")
    assert tables["robustness_digits_preactresnet18"].layout_only
    assert tables["table02_robustness_cifar_preactresnet18"].title.startswith("Table 2: ")


def test_table2_and_3_side_by_side_split_by_arch(tables):
    t2 = tables["table02_robustness_cifar_preactresnet18"]
    t3 = tables["table03_robustness_cifar_wrn"]
    assert set(t2.stats.arch) == {"preactresnet18"} and set(t3.stats.arch) == {"wrn28_4"}
    assert t2.columns == [
        ("cifar10", "clean acc"), ("cifar10", "-C acc"), ("cifar10", "-C acc w/o noise"),
        ("cifar10", "-P mFR"), ("cifar10", "-P mFR w/o noise"), ("cifar10", "FGSM acc"),
        ("cifar100", "clean acc"), ("cifar100", "-C acc"), ("cifar100", "-C acc w/o noise"),
        ("cifar100", "FGSM acc")]
    erm = cell(t2, method="erm", group="cifar10", column="clean acc")
    assert (erm["mean"], erm["min"], erm["max"], erm["n"]) == pytest.approx((0.80, 0.79, 0.81, 2))
    assert erm["std"] == pytest.approx(0.02 ** 0.5 / 10)  # std of (.79, .81), ddof 1
    head, erm_row, nm_row = md_rows(t2)
    assert head == ("| arch | width | method | CIFAR-10 clean acc | CIFAR-10 -C acc | CIFAR-10 -C "
                    "acc w/o noise | CIFAR-10 -P mFR | CIFAR-10 -P mFR w/o noise | CIFAR-10 "
                    "FGSM acc | CIFAR-100 clean acc | CIFAR-100 -C acc | CIFAR-100 -C acc w/o "
                    "noise | CIFAR-100 FGSM acc |")
    # -P (erm): mFR = .055 + .002·seed; w/o noise = mean of k = 3..10 → .065 + .002·seed
    assert erm_row == ("| preactresnet18 | 1 | erm | 80.0 (79.0/81.0) | 70.0 (69.0/71.0) | "
                       "72.0 (71.0/73.0) | 5.6 (5.5/5.7) | 6.6 (6.5/6.7) | 30.0 (29.0/31.0) | "
                       "60.0 (59.0/61.0) | 50.0 (49.0/51.0) | 52.0 (51.0/53.0) | "
                       "10.0 (9.0/11.0) |")
    assert nm_row.startswith("| preactresnet18 | 1 | noisymix | 90.0 (89.0/91.0) |")
    assert cell(t2, method="noisymix", column="-P mFR w/o noise")["mean"] == pytest.approx(0.033)
    assert md_rows(t3)[1].startswith("| wrn28_4 | 1 | erm | 82.0 (81.0/83.0) | 72.0 (71.0/73.0)")
    assert "'w/o noise' columns are the paper's parenthesised values" in t2.markdown()


def test_table1_imagenet_all_columns(tables):
    t1 = tables["table01_robustness_imagenet"]
    head, erm, nm = md_rows(t1)
    assert head == ("| arch | width | method | clean acc | -C acc | -C acc w/o noise | -C mCE | "
                    "-P mFR | -P mFR w/o noise | -P mT5D | -R acc | FGSM acc |")
    # mFR = (2·.02 + 8·.01)/10 = .012; without the two noise perturbations: .01
    assert erm == ("| resnet50 | 1 | erm | 76.0 | 40.0 | 42.0 | 70.0 | 1.2 | 1.0 | 1.234 | 36.0 "
                   "| 10.0 |")
    assert nm == ("| resnet50 | 1 | noisymix | 78.0 | 50.0 | 52.0 | 60.0 | 0.6 | 0.5 | 1.234 | "
                  "40.0 | 20.0 |")
    assert "eps=0.0313" in t1.markdown() and "over 1 seed(s)" in t1.markdown()


def test_table11_from_imagenet_r_calibration(tables):
    t11 = tables["table11_calibration_imagenet-r"]
    assert t11.columns == [("imagenet-r", "RMS"), ("imagenet-r", "AURRA")]
    assert md_rows(t11)[1:] == ["| resnet50 | 1 | erm | 20.0 | 60.0 |",
                                "| resnet50 | 1 | noisymix | 10.0 | 70.0 |"]
    extra = tables["calibration_cifar10"]
    assert extra.entry == "Calibration" and extra.columns == [("clean", "RMS")]
    assert cell(extra, arch="wrn28_4", method="erm")["mean"] == pytest.approx(0.055)


def test_per_corruption_and_flip_tables(tables):
    t7 = tables["table07_per_corruption_cifar10_preactresnet18"]
    assert [c for _, c in t7.columns] == list(TEST_CORRUPTIONS)
    # mean over severities of clean − .01·s − .001·i = clean − .03 − .001·i; snow: i = 7
    snow = cell(t7, method="erm", column="snow")
    assert (snow["mean"], snow["min"], snow["max"]) == pytest.approx((0.763, 0.753, 0.773))
    t10 = tables["table10_per_corruption_cifar100_wrn"]
    assert cell(t10, method="noisymix", column="gaussian_noise")["mean"] == pytest.approx(0.69)
    t13 = tables["table13_flip_probability_cifar10_preactresnet18"]
    assert [c for _, c in t13.columns] == [*PERTURBATIONS, "mFR"]
    assert md_rows(t13)[1].endswith("| 10.1 (10.0/10.2) | 5.6 (5.5/5.7) |")  # scale, mFR
    assert cell(tables["table12_flip_probability_imagenet"], method="noisymix",
                column="gaussian_noise")["mean"] == pytest.approx(0.01)


def test_table4_marks_and_table5_transfer(tables):
    t4 = tables["table04_ablation"]
    assert md_rows(t4)[0] == ("| dataset | arch | width | ablation_cell | augment | mix | noise "
                              "| jsd | clean acc |")
    assert md_rows(t4)[1:] == [
        "| cifar100 | preactresnet18 | 1 | none | ✗ | ✗ | ✗ | ✗ | 50.0 |",
        "| cifar100 | preactresnet18 | 1 | mix_noise | ✗ | ✓ | ✓ | ✗ | 55.0 |",
        "| cifar100 | preactresnet18 | 1 | augment_mix_jsd | ✓ | ✓ | ✗ | ✓ "
        "| 62.0 (60.0/64.0) |"]
    t5 = tables["table05_transfer"]
    assert md_rows(t5)[0] == ("| transfer_source | arch | width | method | CIFAR-10 clean acc | "
                              "CIFAR-10 -C acc | CIFAR-100 clean acc | CIFAR-100 -C acc |")
    assert md_rows(t5)[1] == "| imagenet | resnet50 | 1 | erm | 95.0 | 75.0 | 80.0 | 60.0 |"
    # neither feeds the main tables
    assert "resnet50" not in set(tables["table02_robustness_cifar_preactresnet18"].stats.arch)
    assert "none" not in md_rows(tables["table02_robustness_cifar_preactresnet18"])[1]


def test_annotate_reads_identity_columns_not_paths():
    """A run's role is what its rows say (written by `noisymix eval`), whatever its path."""
    df = pd.DataFrame([r("some/run/a", "cifar100", "preactresnet18", "noisymix", 0, "clean",
                         "accuracy", 0.5),
                       r("results/runs/cifar100/preactresnet18/ablation/augment_jsd/seed0",
                         "cifar100", "preactresnet18", "noisymix", 0, "clean", "accuracy", 0.6)])
    df = df.astype({"noise": object})
    df.loc[0, ["kind", "ablation_cell", "augment", "noise"]] = ["ablation", "my_cell", True, None]
    df.loc[1, ["kind", "ablation_cell"]] = ["main", ""]
    out = annotate(df)
    assert list(out.kind) == ["ablation", "main"]
    assert list(out.ablation_cell) == ["my_cell", ""]
    assert list(out.augment) == [True, False] and list(out.noise) == [False, False]
    assert list(out.jsd) == [False, False]  # switches count for ablation rows only
    df.loc[0, "kind"] = "sideways"
    with pytest.raises(ValueError, match="unknown kind.*sideways"):
        annotate(df)


def test_explicit_mfr_without_noise_row_wins():
    rows = cifar_rows("cifar10", "preactresnet18", "erm", 0, 0.8)
    rows.append(r(rows[0]["run"], "cifar10", "preactresnet18", "erm", 0, "cifar10-p",
                  "mfr_no_noise", 0.5, "all"))
    t2 = {t.name: t for t in build_tables(prepare(pd.DataFrame(rows)))}[
        "table02_robustness_cifar_preactresnet18"]
    assert cell(t2, column="-P mFR w/o noise")["mean"] == pytest.approx(0.5)


def test_aggregate_cli_writes_index_summary_and_files(tmp_path):
    rel = [r("results/runs/cifar10/preactresnet18/erm/seed0", "cifar10", "preactresnet18", "erm",
             0, "clean", f"reliability_{k}_bin{b}", v)
           for b in range(3) for k, v in (("conf", 0.2 + 0.3 * b), ("acc", 0.1 + 0.3 * b))]
    df = pd.concat([all_rows(), pd.DataFrame(rel)], ignore_index=True)
    a, b = tmp_path / "a.parquet", tmp_path / "b.csv"
    df.iloc[: len(df) // 2].to_parquet(a, index=False)
    df.iloc[len(df) // 2:].to_csv(b, index=False)
    out = tmp_path / "agg"
    from noisymix.cli import main

    res = CliRunner().invoke(main, ["aggregate", "--results", str(a), str(b), "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    index = {e["table"]: e for e in summary["index"]}
    assert index["Table 14"]["files"] == [] and index["Table 14"]["missing"] == (
        "no data in this profile: needs per-perturbation -P rows of a wrn* architecture on "
        "cifar10")
    assert index["Table 2"] == {
        "table": "Table 2",
        "content": "robustness of PreActResNet-18, CIFAR-10 and CIFAR-100 side by side",
        "files": ["table02_robustness_cifar_preactresnet18"],
        "layout_files": ["robustness_digits_preactresnet18"], "missing": None}
    assert index["Toy"]["missing"] == "not asked for (no --toy)"
    md = (out / "tables" / "index.md").read_text()
    assert ("| Table 14 | CIFAR-10-P flip probability per perturbation, WRN | – | no data in "
            "this profile: needs per-perturbation -P rows of a wrn* architecture on cifar10 |  |"
            ) in md
    prov = summary["provenance"]
    assert {"git_commit", "torch_version", "cuda_version", "device", "recorded_by"} <= set(prov)
    assert prov["recorded_by"].startswith("aggregating process")
    assert summary["seeds"]["per_table"]["table02_robustness_cifar_preactresnet18"] == 2
    assert summary["seeds"]["per_table"]["table04_ablation"] == [1, 2]
    assert summary["seeds"]["per_dataset"]["cifar10"] == [0, 1]
    assert "results/runs/imagenet/resnet50/erm/seed0/transfer/cifar10" in summary["runs"]
    assert summary["methods"]["cifar10/preactresnet18/erm"] == {
        "clean_accuracy": 0.8, "cifar10-c/robust_accuracy": 0.7}
    long = pd.read_csv(out / "tables" / "table02_robustness_cifar_preactresnet18.csv")
    assert list(long.columns) == ["arch", "width", "method", "group", "column", "benchmark",
                                  "metric", "mean", "std", "min", "max", "n"]
    nn = long[(long.group == "cifar10") & (long.method == "erm")
              & (long.metric == "robust_accuracy_no_noise")].iloc[0]
    assert (nn["mean"], nn["min"], nn["max"], nn["n"]) == pytest.approx((0.72, 0.71, 0.73, 2))
    assert pd.read_parquet(out / "tables" / "table04_ablation.parquet")["augment"].dtype == bool
    for fig in ("robust_accuracy_cifar10_cifar10-c", "categories_imagenet_imagenet-c",
                "reliability_cifar10"):
        assert (out / "figures" / f"{fig}.png").read_bytes()[:4] == b"\x89PNG"


def test_provenance_from_rows_and_empty_input(tmp_path):
    df = pd.DataFrame([r("runs/digits/erm/seed0", "digits", "preactresnet18", "erm", 0,
                         "clean", "accuracy", 0.5)])
    df["torch_version"], df["cuda_version"], df["device"] = "2.9.0", "12.8", "NVIDIA H100"
    df.to_parquet(tmp_path / "a.parquet")
    prov = aggregate([tmp_path / "a.parquet"], tmp_path / "o")["provenance"]
    assert (prov["torch_version"], prov["cuda_version"], prov["device"], prov["recorded_by"]) \
        == ("2.9.0", "12.8", "NVIDIA H100", "result rows")

    empty = tmp_path / "e.parquet"
    pd.DataFrame(columns=COLUMNS).to_parquet(empty)
    summary = aggregate([empty], tmp_path / "e", toy=tmp_path / "missing" / "toy.json")
    assert summary["tables"] == [] and summary["methods"] == {}
    assert all(e["missing"] for e in summary["index"])
    assert any(n.startswith("Toy:") and "not found" in n for n in summary["notes"])
    with pytest.raises(ValueError, match="lack column"):
        pd.DataFrame({"run": ["x"]}).to_parquet(tmp_path / "bad.parquet")
        load_results([tmp_path / "bad.parquet"])


def test_tables_do_not_depend_on_input_order(tmp_path):
    """Snakemake passes result files in grid order, DVC's glob alphabetically: same tables."""
    files = []
    for method, acc in [("noisymix", 0.5), ("erm", 0.3), ("augmix", 0.4)]:
        f = tmp_path / f"{method}.parquet"
        pd.DataFrame([r(f"runs/{method}", "digits", "preactresnet18", method, 0, "clean",
                        "accuracy", acc)]).to_parquet(f)
        files.append(f)
    aggregate(files, tmp_path / "a")
    aggregate(files[::-1], tmp_path / "b")
    for md in (tmp_path / "a" / "tables").glob("*.md"):
        assert md.read_text() == (tmp_path / "b" / "tables" / md.name).read_text()
    table = (tmp_path / "a" / "tables" / "robustness_digits_preactresnet18.md").read_text()
    assert table.index("| erm |") < table.index("| augmix |") < table.index("| noisymix |")


def test_name_lists_match_the_library_and_no_torch_at_import():
    from noisymix.methods import SCHEMES
    from noisymix.metrics import NOISE_CORRUPTIONS, NOISE_PERTURBATIONS, TEST_CORRUPTIONS as TC
    from noisymix.perturbations import ALL_PERTURBATIONS, PERTURBATIONS as P
    from noisymix.report import rows

    assert rows.METHOD_ORDER == SCHEMES and rows.TEST_CORRUPTIONS == TC
    assert rows.NOISE_CORRUPTIONS == NOISE_CORRUPTIONS == NOISE_C
    assert rows.PERTURBATIONS == P and rows.ALL_PERTURBATIONS == ALL_PERTURBATIONS
    assert rows.NOISE_PERTURBATIONS == NOISE_PERTURBATIONS
    code = "import noisymix.report, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_quick_profile_gets_paper_layouts_under_its_own_names():
    rows = cifar_rows("digits", "preactresnet18", "erm", 0, 0.6)
    rows.append(r("results/runs/digits/preactresnet18/ablation/augment_jsd/seed0", "digits",
                  "preactresnet18", "noisymix", 0, "clean", "accuracy", 0.7))
    rows.append(r("results/runs/digits/preactresnet18/erm/seed0/transfer/fashion-mnist",
                  "fashion-mnist", "preactresnet18", "erm", 0, "clean", "accuracy", 0.3))
    rows.append(r("results/runs/fashion-mnist/wrn28_2/erm/seed0", "fashion-mnist", "wrn28_2",
                  "erm", 0, "clean", "accuracy", 0.9))
    tables = build_tables(prepare(pd.DataFrame(rows)))
    titles = {t.name: t.title.split(":")[0] for t in tables}
    assert titles == {"robustness_digits_preactresnet18": "Table 2 layout",
                      "robustness_fashion-mnist_wrn": "Table 3 layout",
                      "ablation_digits": "Table 4 layout", "transfer_digits": "Table 5 layout",
                      "per_corruption_digits_preactresnet18": "Table 7 layout",
                      "flip_probability_digits_preactresnet18": "Table 13 layout",
                      "calibration_digits": "Calibration on the clean and -C test sets, trained "
                                            "on digits"}
    index = {e["table"]: e for e in index_entries(tables)}
    assert index["Table 2"]["files"] == [] and index["Table 2"]["layout_files"] == [
        "robustness_digits_preactresnet18"]
    assert index["Table 2"]["missing"] == ("no data in this profile: needs main runs of "
                                           "preactresnet18 on cifar10/cifar100")
    assert index["Table 5"]["layout_files"] == ["transfer_digits"]
    assert index["Table 11"]["layout_files"] == [] and index["Table 11"]["missing"]


# --- AlexNet normalisation (SPEC §4): mCE and mFR divided by an AlexNet run's own rows ---------

def _normalisable_rows(method, arch, err_of, fp_of, t5_of):
    """-C accuracies 1 − err_of(i, s) for corruption i, severity s, with the CE / mCE rows that
    `noisymix eval` writes (from the published constants: here a placeholder 9.0), and -P
    flip probabilities / top-5 distances per perturbation k with unnormalised mFR / mT5D."""
    run = f"results/runs/imagenet/{arch}/{method}/seed0"
    a = ("imagenet", arch, method, 0)
    rows = [r(run, *a, "clean", "accuracy", 0.5),
            r(run, *a, "imagenet-c", "mce", 9.0, "all", 0, "test15"),
            r(run, *a, "imagenet-c", "robust_accuracy", 0.5, "all", 0, "test15")]
    for i, c in enumerate(TEST_CORRUPTIONS):
        rows += [r(run, *a, "imagenet-c", "accuracy", 1 - err_of(i, s), c, s, "test15")
                 for s in range(1, 6)]
        rows.append(r(run, *a, "imagenet-c", "ce", 9.0, c, 0, "test15"))
    fps = {p: fp_of(k) for k, p in enumerate(PERTURBATIONS)}
    t5s = {p: t5_of(k) for k, p in enumerate(PERTURBATIONS)}
    rows += [r(run, *a, "imagenet-p", "flip_probability", v, p) for p, v in fps.items()]
    rows += [r(run, *a, "imagenet-p", "t5d", v, p) for p, v in t5s.items()]
    rows += [r(run, *a, "imagenet-p", "mfr", sum(fps.values()) / len(fps), "all"),
             r(run, *a, "imagenet-p", "mt5d", sum(t5s.values()) / len(t5s), "all")]
    return rows


def test_mce_and_mfr_are_normalised_by_the_alexnet_run_on_the_same_benchmark():
    alex = _normalisable_rows("alexnet", "alexnet", lambda i, s: 0.5 + 0.05 * s + 0.01 * i,
                              lambda k: 0.02 * (k + 1), lambda k: 1.0 + k)
    model = _normalisable_rows("erm", "resnet50", lambda i, s: 0.2 + 0.02 * s,
                               lambda k: 0.01 * (k + 1), lambda k: 0.5 + 0.25 * k)
    df = prepare(pd.DataFrame(alex + model))
    get = lambda m, metric, c="all": df.loc[(df.method == m) & (df.metric == metric)  # noqa: E731
                                           & (df.corruption == c), "value"].item()
    ces = [sum(0.2 + 0.02 * s for s in range(1, 6))
           / sum(0.5 + 0.05 * s + 0.01 * i for s in range(1, 6)) for i in range(15)]
    assert get("erm", "ce", TEST_CORRUPTIONS[3]) == pytest.approx(ces[3])
    assert get("erm", "mce") == pytest.approx(sum(ces) / 15)
    assert get("alexnet", "mce") == pytest.approx(1.0)
    assert get("erm", "mfr") == pytest.approx(0.5)  # FP is half AlexNet's on every one
    assert get("erm", "mfr_no_noise") == pytest.approx(0.5)
    assert get("erm", "mt5d") == pytest.approx(
        sum((0.5 + 0.25 * k) / (1.0 + k) for k in range(10)) / 10)
    (t1,) = [t for t in build_tables(df) if t.entry == "Table 1"]
    text = t1.markdown()
    assert "AlexNet run evaluated here" in text and "published" in text
    assert "FP / FP_AlexNet" in text and "not divided by" not in text


def test_published_alexnet_errors_cross_check_the_computed_ones():
    """An AlexNet run whose per-severity errors are the published ones (timm's list) gives
    the published per-corruption means in the note, gap 0."""
    from noisymix.metrics.corruption import ALEXNET_ERR_BY_SEVERITY

    alex = _normalisable_rows(
        "alexnet", "alexnet",
        lambda i, s: ALEXNET_ERR_BY_SEVERITY[TEST_CORRUPTIONS[i]][s - 1],
        lambda k: 0.1, lambda k: 1.0)
    (t1,) = [t for t in build_tables(prepare(pd.DataFrame(alex))) if t.entry == "Table 1"]
    assert "largest gap 0.0 points" in t1.markdown()


def test_without_an_alexnet_run_mfr_stays_unnormalised():
    model = _normalisable_rows("erm", "resnet50", lambda i, s: 0.2, lambda k: 0.01,
                               lambda k: 1.0)
    df = prepare(pd.DataFrame(model))
    assert df.loc[(df.metric == "mfr"), "value"].item() == pytest.approx(0.01)
    assert df.loc[(df.metric == "mce"), "value"].item() == 9.0
    (t1,) = [t for t in build_tables(df) if t.entry == "Table 1"]
    assert "not divided by" in t1.markdown() and "published ImageNet-C" in t1.markdown()


def test_a_failed_aggregate_leaves_the_old_outputs_whole(tmp_path, monkeypatch):
    """Tables, figures and summary.json appear together or not at all (issue: a killed
    aggregate left new tables beside an old summary.json)."""
    import noisymix.report.driver as driver

    f = tmp_path / "a.parquet"
    pd.DataFrame([r("runs/erm", "digits", "preactresnet18", "erm", 0, "clean", "accuracy",
                    0.3)]).to_parquet(f)
    out = tmp_path / "o"
    aggregate([f], out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    pd.DataFrame([r("runs/erm", "digits", "preactresnet18", "erm", 0, "clean", "accuracy",
                    0.9)]).to_parquet(f)

    def killed(*a, **k):
        raise KeyboardInterrupt  # after the new tables were written to the staging folder

    monkeypatch.setattr(driver, "make_figures", killed)
    with pytest.raises(KeyboardInterrupt):
        aggregate([f], out)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    monkeypatch.undo()
    aggregate([f], out)
    assert "0.9" in (out / "tables" / "robustness_digits_preactresnet18.md").read_text() or \
        "90" in (out / "tables" / "robustness_digits_preactresnet18.md").read_text()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
