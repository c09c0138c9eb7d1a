"""`noisymix aggregate`: tables, figures, index and summary.json (NoisyMix, arXiv:2202.01263).

Writes, under ``out_dir``: ``tables/<name>.md|csv|parquet`` (see ``noisymix.report.tables``),
``tables/index.md`` (every paper table 1–14, the extra calibration table and the toy table:
its file(s) or why this profile has none), ``figures/<name>.png`` and ``summary.json``
(per-method headline numbers, the index, the runs, the number of seeds per table and per
dataset, and the provenance: git commit, noisymix/torch/CUDA versions, device).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import pandas as pd

from noisymix.config import PLOT_CSV
from noisymix.io import atomic_path, replace_dir, write_json, write_text
from noisymix.report.figures import make_figures
from noisymix.report.rows import PROVENANCE_COLUMNS, load_results
from noisymix.report.tables import (
    Table,
    build_tables,
    index_entries,
    index_markdown,
    make_table,
)


def aggregate(results: Sequence[str | Path], out_dir: str | Path,
              toy: str | Path | None = None) -> dict:
    """Write tables, figures, ``tables/index.md`` and ``summary.json``; return the summary.

    Everything is built in a hidden staging folder and then put in place, ``summary.json``
    last (the old one removed first): a killed run never leaves new tables beside an old
    summary, nor a half-written set."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".aggregate-", dir=out))
    try:
        summary = _build(results, stage, toy)
        (out / "summary.json").unlink(missing_ok=True)
        for sub in ("tables", "figures"):
            if (stage / sub).exists():
                replace_dir(stage / sub, out / sub)
        os.replace(stage / "summary.json", out / "summary.json")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return summary


def _build(results: Sequence[str | Path], out: Path, toy: str | Path | None) -> dict:
    df = load_results(results)
    tables = build_tables(df)
    reasons: dict[str, str] = {}
    toy_table = _toy_table(Path(toy), reasons) if toy is not None else None
    if toy is None:
        reasons["Toy"] = "not asked for (no --toy)"
    if toy_table is not None:
        tables.append(toy_table)
    for t in tables:
        t.write(out / "tables")
    index = index_entries(tables, reasons)
    write_text(out / "tables" / "index.md", index_markdown(index))
    figs, fig_notes = make_figures(df, out / "figures", toy)
    main = df[df.kind == "main"]
    summary = {
        "methods": summary_metrics(tables),
        "tables": [t.name for t in tables],
        "index": index,
        "figures": figs,
        "notes": [f"{e['table']}: {e['missing']}" for e in index if e["missing"]] + fig_notes,
        "n_rows": int(len(df)),
        "n_runs": int(df["run"].nunique()),
        "runs": sorted(df["run"].unique().tolist()),
        "seeds": {"per_table": {t.name: t.n_seeds for t in tables},
                  "per_dataset": {d: sorted(int(s) for s in g.unique())
                                  for d, g in main.groupby("dataset", sort=True)["seed"]}},
        "provenance": provenance(df),
    }
    write_plot_csv(summary["methods"], out / "tables" / PLOT_CSV)
    write_json(out / "summary.json", summary)
    return summary


def write_plot_csv(methods: dict, path: Path) -> None:
    """One row per dataset/arch/method: clean and -C accuracy in % (seed means), the wide
    shape `dvc plots show/diff` draws as bars per method."""
    rows = []
    for key, m in methods.items():
        dataset, arch, method = key.split("/", 2)
        robust = [v for k, v in m.items() if k.endswith("/robust_accuracy")]
        rows.append({"dataset": dataset, "arch": arch, "method": method,
                     "clean_accuracy": round(100 * m.get("clean_accuracy", float("nan")), 2),
                     "robust_accuracy": round(100 * robust[0], 2) if robust else float("nan")})
    frame = pd.DataFrame(rows, columns=["dataset", "arch", "method", "clean_accuracy",
                                        "robust_accuracy"])
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def summary_metrics(tables: list[Table]) -> dict:
    """Per ``dataset/arch/method`` of Tables 1–3 (and their layouts): seed-mean clean accuracy
    (``clean_accuracy``) and -C robust accuracy (``<bench>/robust_accuracy``)."""
    out: dict[str, dict[str, float]] = {}
    for t in tables:
        if t.entry not in ("Table 1", "Table 2", "Table 3"):
            continue
        for r in t.stats.itertuples(index=False):
            name = ("clean_accuracy" if r.metric == "accuracy" and r.benchmark == "clean" else
                    f"{r.benchmark}/robust_accuracy" if r.metric == "robust_accuracy" else None)
            if name:
                out.setdefault(f"{r.group}/{r.arch}/{r.method}", {})[name] = round(r.mean, 6)
    return out


def provenance(df: pd.DataFrame) -> dict:
    """What produced the numbers: the git commit of this code, versions and device.

    torch/CUDA versions and the device come from the rows' optional columns of the same names
    (written at evaluation time); rows without them fall back to this process (torch imported
    here, lazily), and ``recorded_by`` says which.
    """
    from noisymix import __version__
    from noisymix.io import git_commit

    info = {"git_commit": git_commit(), "noisymix_version": __version__,
            "python": platform.python_version()}
    given = {c: sorted(set(df[c].dropna().astype(str)) - {""}) for c in PROVENANCE_COLUMNS
             if c in df.columns}
    if all(given.get(c) for c in ("torch_version", "device")):
        info.update({c: ", ".join(v) or None for c, v in given.items() if c != "git_commit"})
        info["evaluated_at_commit"] = ", ".join(given.get("git_commit", [])) or None
        info["recorded_by"] = "result rows"
    else:
        import torch

        cuda = torch.cuda.is_available()
        info.update(torch_version=torch.__version__, cuda_version=torch.version.cuda,
                    device=torch.cuda.get_device_name(0) if cuda else "cpu",
                    recorded_by="aggregating process (the result rows do not record it)")
    return info


def _toy_table(path: Path, reasons: dict[str, str]) -> Table | None:
    """Appendix A: test accuracy per method from the toy verb's json (one seed)."""
    if not path.exists():
        reasons["Toy"] = f"{path} not found"
        return None
    acc = json.loads(path.read_text()).get("test_accuracy", {})
    if not acc:
        reasons["Toy"] = f"{path} has no test_accuracy"
        return None
    cells = pd.DataFrame({"method": list(acc), "group": "", "column": "test acc", "order": 0,
                          "benchmark": "toy", "metric": "accuracy", "run": "toy",
                          "value": [float(v) for v in acc.values()]})
    return make_table("toy", "Appendix A: toy 2-D band data, test accuracy", "Toy", False,
                      cells, ["method"], [])
