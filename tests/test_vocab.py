"""The vocabulary (noisymix.vocab) is torch-free, consistent, and what every registry, re-export
and the params schema use."""

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from noisymix import vocab

ROOT = Path(__file__).resolve().parents[1]
NAME_TUPLES = ("SCHEMES", "ARCHS", "DATASETS", "SWITCHES", "TEST_CORRUPTIONS",
               "EXTRA_CORRUPTIONS", "ALL_CORRUPTIONS", "NOISE_CORRUPTIONS", "PERTURBATIONS",
               "EXTRA_PERTURBATIONS", "ALL_PERTURBATIONS", "NOISE_PERTURBATIONS", "PRESETS",
               "RELEASES", "COLUMNS")


def test_vocab_imports_neither_torch_nor_numpy():
    code = ("import noisymix.vocab, sys; "
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_vocab_imports_only_the_standard_library():
    tree = ast.parse((ROOT / "noisymix" / "vocab.py").read_text())
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert modules <= {"__future__"}, modules


@pytest.mark.parametrize("name", NAME_TUPLES)
def test_name_lists_are_tuples_of_distinct_strings(name):
    names = getattr(vocab, name)
    assert isinstance(names, tuple) and names
    assert all(isinstance(n, str) and n for n in names)
    assert len(set(names)) == len(names)
    assert name in vocab.__all__


def test_vocabulary_is_consistent():
    assert len(vocab.TEST_CORRUPTIONS) == 15 and len(vocab.EXTRA_CORRUPTIONS) == 4
    assert vocab.ALL_CORRUPTIONS == vocab.TEST_CORRUPTIONS + vocab.EXTRA_CORRUPTIONS
    assert vocab.NOISE_CORRUPTIONS == vocab.TEST_CORRUPTIONS[:3]
    assert vocab.NOISE_CORRUPTIONS == vocab.CORRUPTION_FAMILIES["noise"]
    families = [c for cs in vocab.CORRUPTION_FAMILIES.values() for c in cs]
    assert tuple(families) == vocab.TEST_CORRUPTIONS
    assert len(vocab.PERTURBATIONS) == 10 and len(vocab.EXTRA_PERTURBATIONS) == 4
    assert vocab.ALL_PERTURBATIONS == vocab.PERTURBATIONS + vocab.EXTRA_PERTURBATIONS
    assert set(vocab.NOISE_PERTURBATIONS) <= set(vocab.ALL_PERTURBATIONS)
    # the reference's rule (ImageNet-P/test.py): noise perturbations are those named *noise*
    assert vocab.NOISE_PERTURBATIONS == tuple(p for p in vocab.ALL_PERTURBATIONS
                                              if "noise" in p)
    assert vocab.SCHEMES[0] == "erm" and vocab.SCHEMES[-1] == "noisymix"


# --------------------------------------------------------------------------- registries


def test_scheme_registry_matches():
    import noisymix.methods as methods

    assert methods.SCHEMES is vocab.SCHEMES
    assert methods.list_schemes() == sorted(vocab.SCHEMES)  # list_schemes() is alphabetical
    for name in vocab.SCHEMES:
        assert methods.scheme_class(name).name == name


def test_ablation_switches_are_the_noisymix_scheme_fields():
    from noisymix.methods import scheme_class

    fields = {f.name: f for f in dataclasses.fields(scheme_class("noisymix"))}
    for switch in vocab.SWITCHES:
        assert fields[switch].type in (bool, "bool")


def test_corruption_registry_matches():
    import noisymix.corruptions as corruptions
    from noisymix.corruptions import base

    assert corruptions.list_corruptions() == list(vocab.ALL_CORRUPTIONS)
    assert set(base._REGISTRY) == set(vocab.ALL_CORRUPTIONS)
    for name in ("TEST_CORRUPTIONS", "EXTRA_CORRUPTIONS", "ALL_CORRUPTIONS",
                 "NOISE_CORRUPTIONS", "PRESETS"):
        assert getattr(corruptions, name) is getattr(vocab, name)


def test_perturbation_registry_matches():
    import noisymix.perturbations as perturbations
    from noisymix.perturbations import sequences

    assert set(sequences._FUNCS) == set(vocab.ALL_PERTURBATIONS)
    for preset in vocab.PRESETS:
        assert set(sequences.PARAMS[preset]) == set(vocab.ALL_PERTURBATIONS)
    assert set(sequences.PARAMS) == set(vocab.PRESETS)
    assert set(perturbations.GEOMETRIC_PERTURBATIONS) <= set(vocab.ALL_PERTURBATIONS)
    for name in ("PERTURBATIONS", "EXTRA_PERTURBATIONS", "ALL_PERTURBATIONS",
                 "NOISE_PERTURBATIONS", "PRESETS"):
        assert getattr(perturbations, name) is getattr(vocab, name)


def test_metrics_use_the_vocabulary():
    import noisymix.metrics as metrics

    assert metrics.TEST_CORRUPTIONS is vocab.TEST_CORRUPTIONS
    assert metrics.NOISE_CORRUPTIONS is vocab.NOISE_CORRUPTIONS
    assert metrics.NOISE_PERTURBATIONS is vocab.NOISE_PERTURBATIONS
    assert tuple(metrics.ALEXNET_ERR) == vocab.TEST_CORRUPTIONS
    assert tuple(metrics.ALEXNET_ERR_BY_SEVERITY) == vocab.TEST_CORRUPTIONS
    assert all(metrics.is_noise_perturbation(p) == (p in vocab.NOISE_PERTURBATIONS)
               for p in vocab.ALL_PERTURBATIONS)


def test_arch_registry_matches():
    from noisymix.models import list_archs

    assert list_archs() == list(vocab.ARCHS)


def test_dataset_registry_matches():
    from noisymix.data import list_datasets

    assert list_datasets() == list(vocab.DATASETS)


def test_release_registry_matches():
    from noisymix.benchmarks import list_releases
    from noisymix.benchmarks.releases import RELEASES

    assert tuple(RELEASES) == vocab.RELEASES
    assert list_releases() == sorted(vocab.RELEASES)  # list_releases() is alphabetical
    npys = tuple(f"{c}.npy" for c in vocab.ALL_CORRUPTIONS) + ("labels.npy",)
    assert RELEASES["cifar10-c"].files[0].provides == tuple(f"CIFAR-10-C/{f}" for f in npys)
    assert RELEASES["cifar10-p"].files[0].provides == tuple(
        f"CIFAR-10-P/{p}.npy" for p in vocab.PERTURBATIONS)
    groups = [c for f in RELEASES["imagenet-c"].files for c in f.provides]
    assert sorted(groups) == sorted(vocab.ALL_CORRUPTIONS)


def test_fixtures_cover_every_dataset_and_release():
    from noisymix.fixtures import FIXTURE_NAMES
    from noisymix.zoo import ZOO

    zoo = {f"zoo-{e}" for e in ZOO}  # fixture weight files of the importable checkpoints
    assert set(vocab.RELEASES) | zoo <= set(FIXTURE_NAMES) <= set(vocab.DATASETS + vocab.RELEASES) | zoo


# --------------------------------------------------------------------------- result rows


def test_result_columns_match_rows_and_report():
    from noisymix.report import rows as report_rows
    from noisymix.robustness import COLUMNS, Rows

    assert COLUMNS == list(vocab.COLUMNS) == report_rows.COLUMNS
    r = Rows("run0", {"dataset": "digits", "arch": "preactresnet18", "width": 1,
                      "method": "erm"})
    r.add("clean", "accuracy", 0.5, 10)
    assert list(r.rows[0]) == list(vocab.COLUMNS)
    assert list(r.frame().columns) == list(vocab.COLUMNS)


def test_report_names_are_the_vocabulary():
    from noisymix.report import rows as report_rows

    assert report_rows.METHOD_ORDER is vocab.SCHEMES
    for name in ("TEST_CORRUPTIONS", "NOISE_CORRUPTIONS", "PERTURBATIONS", "ALL_PERTURBATIONS",
                 "NOISE_PERTURBATIONS", "SWITCHES"):
        assert getattr(report_rows, name) is getattr(vocab, name)


# --------------------------------------------------------------------------- params schema


@pytest.mark.parametrize("key, names", [
    ("dataset", "DATASETS"), ("arch", "ARCHS"), ("method", "SCHEMES"),
    ("corruption", "ALL_CORRUPTIONS"), ("perturbation", "ALL_PERTURBATIONS"),
    ("preset", "PRESETS"), ("release", "RELEASES"),
])
def test_schema_enums_equal_the_vocabulary(key, names):
    schema = yaml.safe_load((ROOT / "noisymix" / "pipeline" / "params.schema.yaml").read_text())
    assert schema["$defs"][key]["enum"] == list(getattr(vocab, names))
