"""Report of NoisyMix results: the paper's tables, figures and a self-describing summary.

Paper: Erichson et al., "NoisyMix: Boosting Model Robustness to Common Corruptions",
arXiv:2202.01263 (reference code github.com/erichson/NoisyMix).

Modules, each importing only those before it (no cycle, no torch at import time):

- ``rows``: load the tidy rows of ``noisymix eval``, decide each run's role (``annotate``),
  derive the -P value without noise perturbations;
- ``stats``: mean/std/min/max/n over seeds, cell formatting;
- ``tables``: the catalogue of paper tables and their builders;
- ``figures``: bar charts, reliability diagram, toy decision boundaries;
- ``driver``: ``aggregate(results, out_dir, toy=None)``, the `noisymix aggregate` verb.
"""

from noisymix.report.driver import aggregate, provenance, summary_metrics
from noisymix.report.rows import COLUMNS, annotate, load_results, prepare
from noisymix.report.stats import seed_stats
from noisymix.report.tables import CATALOGUE, Table, build_tables, index_entries

__all__ = ["CATALOGUE", "COLUMNS", "Table", "aggregate", "annotate", "build_tables",
           "index_entries", "load_results", "prepare", "provenance", "seed_stats",
           "summary_metrics"]
