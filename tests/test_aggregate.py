"""Tables and figures from hand-made tidy result rows: exact seed statistics, skipping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from noisymix.aggregate import COLUMNS, ablation_cell, aggregate, build_tables, load_results
from noisymix.metrics import TEST_CORRUPTIONS


def row(run, method, seed, benchmark, corruption, severity, metric, value, dataset="cifar10",
        corruption_set=""):
    return dict(run=run, dataset=dataset, arch="preactresnet18", width=1.0, method=method,
                seed=seed, config_hash="h", benchmark=benchmark, corruption=corruption,
                severity=severity, metric=metric, value=value, corruption_set=corruption_set,
                n_images=100)


def main_rows() -> pd.DataFrame:
    rows = []
    clean = {("erm", 0): 0.90, ("erm", 1): 0.92, ("erm", 2): 0.94,
             ("noisymix", 0): 0.95, ("noisymix", 1): 0.96}
    robust = {("erm", 0): 0.70, ("erm", 1): 0.74, ("erm", 2): 0.72,
              ("noisymix", 0): 0.85, ("noisymix", 1): 0.87}
    for (method, seed), acc in clean.items():
        run = f"results/cifar10/preactresnet18/{method}/seed{seed}"
        rows.append(row(run, method, seed, "clean", "", 0, "accuracy", acc))
        rows.append(row(run, method, seed, "cifar10-c", "all", 0, "robust_accuracy",
                        robust[method, seed], corruption_set="test15"))
        # an all19 aggregate must not leak into the main tables (it would pull means down)
        rows.append(row(run, method, seed, "cifar10-c", "all", 0, "robust_accuracy", 0.01,
                        corruption_set="all19"))
        for i, c in enumerate(TEST_CORRUPTIONS):
            for s in range(1, 6):  # accuracy = 0.5 + i/100 − s/100 + seed/100
                rows.append(row(run, method, seed, "cifar10-c", c, s, "accuracy",
                                0.5 + i / 100 - s / 100 + seed / 100))
        rows.append(row(run, method, seed, "clean", "", 0, "ece", 0.05 + seed / 100))
        rows.append(row(run, method, seed, "cifar10-c", "all", 0, "ece", 0.15,
                        corruption_set="test15"))
    return pd.DataFrame(rows, columns=COLUMNS)


def write(df: pd.DataFrame, path: Path) -> Path:
    df.to_parquet(path, index=False)
    return path


def test_ablation_cell_rule():
    assert ablation_cell("results/cifar10/ablation/noise+jsd/seed0") == "noise+jsd"
    assert ablation_cell("ablation/mix") == "mix"
    assert ablation_cell("results/cifar10/noisymix/seed0") == ""
    assert ablation_cell("results/myablation/x/seed0") == ""


def test_robustness_table_exact_seed_statistics(tmp_path):
    df = load_results([write(main_rows(), tmp_path / "a.parquet")])
    tables, notes = build_tables(df)
    names = {t.name: t for t in tables}
    assert set(names) == {"robustness_cifar10", "per_corruption_cifar10_cifar10-c",
                          "calibration_cifar10"}
    rob = names["robustness_cifar10"].stats.set_index(["method", "column"])
    erm = rob.loc[("erm", "clean acc")]
    assert erm["mean"] == pytest.approx(0.92)
    assert erm["min"] == pytest.approx(0.90) and erm["max"] == pytest.approx(0.94)
    assert erm["std"] == pytest.approx(np.std([0.90, 0.92, 0.94], ddof=1))
    assert erm["n"] == 3
    nm = rob.loc[("noisymix", "cifar10-c robust acc")]
    assert (nm["mean"], nm["min"], nm["max"], nm["n"]) == pytest.approx((0.86, 0.85, 0.87, 2))
    md = names["robustness_cifar10"].markdown()
    assert "| 92.0 (90.0/94.0) |" in md and "86.0 (85.0/87.0)" in md

    per = names["per_corruption_cifar10_cifar10-c"]
    assert per.columns == list(TEST_CORRUPTIONS)
    st = per.stats.set_index(["method", "column"])
    # mean over severities 1..5 of 0.5 + i/100 − s/100 + seed/100 = 0.47 + i/100 + seed/100
    snow = st.loc[("erm", "snow")]
    i = TEST_CORRUPTIONS.index("snow")
    assert snow["mean"] == pytest.approx(0.47 + i / 100 + 0.01)
    assert (snow["min"], snow["max"]) == pytest.approx((0.47 + i / 100, 0.47 + i / 100 + 0.02))

    cal = names["calibration_cifar10"]
    assert cal.columns == ["clean ECE", "cifar10-c ECE"]
    assert cal.stats.set_index(["method", "column"]).loc[("noisymix", "clean ECE"), "mean"] \
        == pytest.approx(0.055)
    assert any(n.startswith("Table 4") for n in notes)
    assert any(n.startswith("Tables 12–14") for n in notes)


def test_ablation_and_transfer_runs_are_routed(tmp_path):
    rows = [row("results/cifar10/ablation/mix+noise/seed0", "noisymix", 0, "clean", "", 0,
                "accuracy", 0.8),
            row("results/cifar10/ablation/mix+noise/seed1", "noisymix", 1, "clean", "", 0,
                "accuracy", 0.9),
            row("results/transfer/fashion-mnist/erm/seed0", "erm", 0, "clean", "", 0,
                "accuracy", 0.7, dataset="fashion-mnist"),
            row("results/transfer/fashion-mnist/erm/seed0", "erm", 0, "fashion-mnist-c", "all",
                0, "robust_accuracy", 0.5, dataset="fashion-mnist", corruption_set="test15")]
    df = load_results([write(pd.DataFrame(rows), tmp_path / "a.parquet")])
    tables, notes = build_tables(df)
    names = {t.name: t for t in tables}
    assert set(names) == {"ablation", "transfer"}  # neither feeds the main tables
    abl = names["ablation"].stats
    assert list(abl.ablation_cell) == ["mix+noise"]
    assert (abl["mean"].item(), abl["n"].item()) == pytest.approx((0.85, 2))
    tr = names["transfer"]
    assert tr.columns == ["clean acc", "fashion-mnist-c robust acc"]
    assert any(n.startswith("Tables 1–3") for n in notes)


def test_aggregate_writes_everything_and_skips_missing(tmp_path):
    df = main_rows()
    rel = [row("results/cifar10/preactresnet18/erm/seed0", "erm", 0, "clean", "", 0,
               f"reliability_{k}_bin{b}", v)
           for b in range(3) for k, v in (("conf", 0.2 + 0.3 * b), ("acc", 0.1 + 0.3 * b))]
    df = pd.concat([df, pd.DataFrame(rel)], ignore_index=True)
    a = write(df.iloc[: len(df) // 2], tmp_path / "a.parquet")
    b = tmp_path / "b.csv"
    df.iloc[len(df) // 2:].to_csv(b, index=False)
    out = tmp_path / "agg"
    result = CliRunner().invoke(__import__("noisymix.cli", fromlist=["main"]).main,
                                ["aggregate", "--results", str(a), str(b), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["methods"]["cifar10/preactresnet18/erm"]["clean_accuracy"] == \
        pytest.approx(0.92)
    assert summary["methods"]["cifar10/preactresnet18/noisymix"][
        "cifar10-c/robust_accuracy"] == pytest.approx(0.86)
    for name in ("robustness_cifar10", "per_corruption_cifar10_cifar10-c"):
        for ext in ("md", "csv", "parquet"):
            assert (out / "tables" / f"{name}.{ext}").stat().st_size > 0
    csv = pd.read_csv(out / "tables" / "robustness_cifar10.csv")
    assert {"mean", "std", "min", "max", "n"} <= set(csv.columns)
    for fig in ("robust_accuracy_cifar10_cifar10-c", "categories_cifar10_cifar10-c",
                "reliability_cifar10"):
        assert (out / "figures" / f"{fig}.png").read_bytes()[:4] == b"\x89PNG"
        assert fig in summary["figures"]
    assert any("ablation" in n for n in summary["notes"])


def test_empty_and_partial_inputs_never_raise(tmp_path):
    empty = write(pd.DataFrame(columns=COLUMNS).astype({"width": float, "value": float,
                                                        "severity": int, "seed": int}),
                  tmp_path / "e.parquet")
    summary = aggregate([empty], tmp_path / "o", toy=tmp_path / "missing" / "toy.json")
    assert summary["tables"] == [] and summary["methods"] == {}
    assert len(summary["notes"]) >= 6 and any("toy" in n for n in summary["notes"])
    with pytest.raises(ValueError, match="lack column"):
        load_results([write(pd.DataFrame({"run": ["x"]}), tmp_path / "bad.parquet")])


def test_tables_do_not_depend_on_input_order(tmp_path):
    """Snakemake passes result files in grid order, DVC's glob alphabetically: same tables."""
    import pandas as pd

    from noisymix.aggregate import aggregate
    from noisymix.robustness import COLUMNS

    def rows(method, acc):
        return pd.DataFrame([dict(zip(COLUMNS, [f"runs/{method}", "digits", "preactresnet18",
                                                0.125, method, 0, "h", "clean", "", 0,
                                                "accuracy", acc, "", 10]))])

    files = []
    for method, acc in [("noisymix", 0.5), ("erm", 0.3), ("augmix", 0.4)]:
        f = tmp_path / f"{method}.parquet"
        rows(method, acc).to_parquet(f)
        files.append(f)
    aggregate(files, tmp_path / "a")
    aggregate(files[::-1], tmp_path / "b")
    for md in (tmp_path / "a" / "tables").glob("*.md"):
        assert md.read_text() == (tmp_path / "b" / "tables" / md.name).read_text()
    table = (tmp_path / "a" / "tables" / "robustness_digits.md").read_text()
    assert table.index("| erm |") < table.index("| augmix |") < table.index("| noisymix |")
