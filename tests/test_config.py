"""params.yaml + schema: strict validation with clear messages, and profile resolution."""

import copy

import pytest
import yaml

from noisymix.config import (ConfigError, load_config, load_params, load_schema, resolve_profile,
                             validate_params)

ALL_METHODS = {"erm", "mixup", "manifold_mixup", "cutmix", "puzzlemix", "nfm", "augmix", "noisymix"}


@pytest.fixture(scope="module")
def params():
    return load_params("params.yaml")


def _invalid(data, *fragments):
    with pytest.raises(ConfigError) as e:
        validate_params(data)
    for f in fragments:
        assert f in str(e.value), str(e.value)
    return str(e.value)


@pytest.mark.parametrize("name", ["quick", "fashion", "cifar", "imagenet"])
def test_every_profile_resolves(params, name):
    p = resolve_profile(validate_params(params), name)
    if p.models.imported:  # imagenet: Table 1's public checkpoints + the AlexNet normaliser
        assert len(p.runs()) == len(p.models.imports) + 1 and p.trained_methods() == ()
        return
    assert set(p.methods) == ALL_METHODS
    assert len(p.runs()) == len(p.datasets) * len(p.archs) * len(p.methods) * len(p.seeds)


def test_quick_profile_grid():
    p = load_config("params.yaml", profile="quick")
    assert p.datasets == ("digits",) and p.width == 0.125 and p.seeds == (0,)
    assert p.runs()[0].path == "results/runs/digits/preactresnet18/erm/seed0"
    assert 3 <= len(p.ablation.cells) <= 4
    assert len(p.corruptions.names) == 15 and not p.corruptions.extra
    assert p.corruptions.severities == (1, 2, 3, 4, 5)
    t = p.transfer_runs()
    assert [r.source.method for r in t] == ["erm", "augmix", "noisymix"]
    assert t[0].path == "results/runs/digits04/preactresnet18/erm/seed0/transfer/digits59"
    # the sources are outside the main grid: trained for the transfer methods only
    assert p.transfer_source_runs() == [r.source for r in t]
    assert p.transfer.finetune.lr == 0.01 and p.transfer.finetune.batch_size == 64
    assert p.fixture_names() == [] and p.train_datasets() == ["digits", "digits04"]
    cell = p.ablation_runs()[0]
    assert cell.path == f"results/runs/digits/preactresnet18/ablation/{cell.cell}/seed0"


def test_paper_profiles():
    c = load_config("params.yaml", profile="cifar")
    assert c.train.epochs == 200 and c.seeds == (0, 1, 2, 3, 4) and set(c.archs) == {"preactresnet18", "wrn28_4"}
    assert len(c.ablation.cells) == 10
    assert c.releases() == ["cifar10-c", "cifar100-c"]
    i = load_config("params.yaml", profile="imagenet")
    assert i.archs == ("resnet50",) and "imagenet-r" in i.releases()
    assert {t.target for t in i.transfer_runs()} == {"cifar10", "cifar100"}


@pytest.mark.parametrize("name", ["quick", "fashion", "cifar", "imagenet"])
def test_smoke_scale_shrinks_sizes_only(name):
    full = load_config("params.yaml", profile=name)
    smoke = load_config("params.yaml", profile=name, scale="smoke")
    assert smoke.smoke and smoke.workdir == f"smoke/{name}"
    assert full.workdir == ("." if name == "quick" else f"pipelines/{name}")
    assert smoke.data_root == "data"
    assert smoke.mirror == ("fixtures/mirror.json" if name != "quick" else None)  # embedded
    assert full.data_root is None and full.mirror is None
    # the same structure: datasets, archs, methods, cells, pairs, benchmarks, releases
    for key in ("datasets", "archs", "methods"):
        assert getattr(smoke, key) == getattr(full, key)
    assert [c.name for c in smoke.ablation.cells] == [c.name for c in full.ablation.cells]
    assert smoke.transfer.pairs == full.transfer.pairs
    assert smoke.releases() == full.releases()
    assert smoke.corruptions.names == full.corruptions.names
    # only sizes shrink
    assert smoke.width == 0.0625 and smoke.train.epochs == 1 and smoke.seeds == (0,)
    assert smoke.transfer.finetune.epochs == 1 and smoke.eval.limit == 16
    assert smoke.corruptions.limit <= 8 and smoke.perturbations.limit <= 4
    # every non-embedded input has a fixture
    needed = set(smoke.train_datasets() + smoke.eval_datasets() + smoke.releases())
    needed |= {f"zoo-{m.entry}" for _, m in smoke.import_runs()}  # imported weights
    assert needed - {"digits", "digits04", "digits59"} == set(smoke.fixture_names())


def test_imagenet_r_only_for_imagenet_models():
    i = load_config("params.yaml", profile="imagenet")
    assert i.extra_benchmarks_for("imagenet") == ("imagenet-r",)
    assert i.extra_benchmarks_for("cifar10") == ()  # transfer targets have CIFAR classes


def test_param_args_only_touch_their_scheme():
    p = load_config("params.yaml", profile="quick")
    assert p.param_args("erm") == []
    assert "add_level=0.5" in p.param_args("noisymix")
    cell = p.cell("mix_noise")
    args = p.param_args("noisymix", "mix_noise")
    assert "augment=false" in args and "jsd=false" in args and "mix=true" in args
    assert cell.switches() == {"augment": False, "mix": True, "noise": True, "jsd": False}


def test_full_grid_has_16_distinct_cells(params):
    data = copy.deepcopy(params)
    data["profiles"]["quick"]["ablation"]["full_grid"] = True
    p = resolve_profile(validate_params(data), "quick")
    assert len(p.ablation.cells) == 16
    assert len({tuple(c.switches().values()) for c in p.ablation.cells}) == 16


def test_defaults_are_filled_from_schema(params):
    data = copy.deepcopy(params)
    del data["profiles"]["quick"]["toy"]
    del data["profiles"]["quick"]["train"]["lr"]
    out = validate_params(data)
    assert out["profiles"]["quick"]["toy"] == {"enabled": True, "seed": 0}
    assert out["profiles"]["quick"]["train"]["lr"] == 0.1


def test_unknown_key_is_an_error(params):
    data = copy.deepcopy(params)
    data["profiles"]["quick"]["train"]["epohcs"] = 3
    _invalid(data, "profiles.quick.train", "'epohcs'", "allowed:", "epochs")


def test_unknown_top_level_key(params):
    data = copy.deepcopy(params)
    data["gpus"] = 4  # runtime settings do not belong in params.yaml
    _invalid(data, "unknown key(s) 'gpus'")


def test_bad_enum_names_the_list_index_and_choices(params):
    data = copy.deepcopy(params)
    data["profiles"]["quick"]["methods"][1] = "mixupp"
    msg = _invalid(data, "profiles.quick.methods[1]", "'mixupp' is not allowed", "noisymix")
    data = copy.deepcopy(params)
    data["profiles"]["cifar"]["corruptions"]["names"].append("rain")
    _invalid(data, "profiles.cifar.corruptions.names[15]", "'rain'", "saturate")
    assert msg.startswith("params.yaml is invalid")


def test_wrong_type(params):
    data = copy.deepcopy(params)
    data["profiles"]["quick"]["train"]["epochs"] = "three"
    _invalid(data, "profiles.quick.train.epochs", "expected integer", "'three'")


def test_unknown_scheme_hyper_parameter(params):
    data = copy.deepcopy(params)
    data["profiles"]["quick"]["method_params"]["noisymix"]["add_lvl"] = 0.1
    with pytest.raises(ConfigError, match=r"method_params\.noisymix.*add_lvl.*add_level"):
        resolve_profile(validate_params(data), "quick")


def test_cross_key_checks(params):
    data = copy.deepcopy(params)
    data["profiles"]["quick"]["transfer"]["pairs"][0]["source"] = "digits59"
    with pytest.raises(ConfigError, match=r"transfer\.pairs\[0\].*both 'digits59'"):
        resolve_profile(validate_params(data), "quick")
    with pytest.raises(ConfigError, match="profile: 'nope' is not defined"):
        resolve_profile(validate_params(params), "nope")
    data = copy.deepcopy(params)
    data["profiles"]["fashion"]["corruptions"]["source"] = "release"  # no fashion-mnist-c release
    with pytest.raises(ConfigError, match="fashion-mnist-c"):
        resolve_profile(validate_params(data), "fashion")


def test_schema_documents_every_key():
    schema = load_schema()

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, where
                for key, sub in node["properties"].items():
                    if set(sub) == {"$ref"}:
                        sub = schema["$defs"][sub["$ref"].rsplit("/", 1)[-1]]
                    assert "description" in sub and "default" in sub, f"{where}.{key}"
            for k, v in node.items():
                walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(schema, "schema")
    assert yaml.safe_load(open("params.yaml"))["profile"] == "quick"


def test_schema_enums_match_the_registries():
    from noisymix.benchmarks import list_releases
    from noisymix.corruptions import ALL_CORRUPTIONS
    from noisymix.methods import list_schemes
    from noisymix.models import list_archs
    from noisymix.data import list_datasets
    from noisymix.perturbations import ALL_PERTURBATIONS

    d = load_schema()["$defs"]
    assert set(d["release"]["enum"]) == set(list_releases())
    assert set(d["method"]["enum"]) == set(list_schemes())
    assert set(d["arch"]["enum"]) == set(list_archs())
    assert set(d["dataset"]["enum"]) == set(list_datasets())
    assert set(d["corruption"]["enum"]) == set(ALL_CORRUPTIONS)
    assert set(d["perturbation"]["enum"]) == set(ALL_PERTURBATIONS)


# --- models: imported public checkpoints (Table 1) -----------------------------------------

def test_imagenet_profile_imports_table1_checkpoints_and_alexnet():
    p = load_config("params.yaml", "imagenet")
    assert p.models.imported and p.models.normaliser.entry == "alexnet-torchvision"
    assert [r.method for r in p.runs()] == ["erm", "augmix", "sin", "adversarial", "noisymix",
                                           "alexnet"]
    assert p.trained_methods() == () and "alexnet" not in p.transfer.methods
    assert p.normaliser_run().path == "results/runs/imagenet/alexnet/alexnet/seed0"
    assert {m.entry: m.file for m in p.models.imports}["resnet50-torchvision"] is None
    smoke = load_config("params.yaml", "imagenet", scale="smoke")
    assert all(m.file is None for m in smoke.models.imports)  # the mirror provides them
    assert "zoo-alexnet-torchvision" in smoke.fixture_names()


def test_browser_download_without_a_file_is_refused():
    import yaml

    data = yaml.safe_load(open("params.yaml"))
    del data["profiles"]["imagenet"]["models"]["files"]["resnet50-sin"]
    with pytest.raises(ConfigError, match="resnet50-sin is a browser download"):
        resolve_profile(validate_params(data), "imagenet", check_hparams=False)
    # at smoke scale the fixture mirror stands in for it
    resolve_profile(validate_params(data), "imagenet", check_hparams=False, scale="smoke")
