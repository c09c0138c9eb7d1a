# Prepare: verify (or fetch) each dataset and official release once; later rules depend on the
# marker, so a missing dataset fails here with one clear message. At smoke scale the fixtures
# rule first writes tiny datasets and release archives in the official layouts, and prepare
# fetches them from that local mirror through the same download/verify/extract code.


rule fixtures:
    output:
        "fixtures/mirror.json",
    params:
        names=get_fixture_names,
        seed=PROFILE.fixture_seed,
    log:
        "logs/fixtures/fixtures.log",
    benchmark:
        "benchmarks/fixtures/fixtures.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        gpu=0,
    shell:
        "noisymix fixtures {params.names} --seed {params.seed} --out fixtures > {log} 2>&1"


rule prepare:
    input:
        get_mirror_inputs,
    output:
        "results/data/{name}.json",
    params:
        download=get_download_flag,
        mirror=get_mirror_flag,
        data_root=get_data_root_flag,
    log:
        "logs/prepare/{name}.log",
    benchmark:
        "benchmarks/prepare/{name}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        gpu=0,
    shell:
        "noisymix prepare --dataset {wildcards.name} {params.download} {params.mirror}"
        " {params.data_root} --out {output} > {log} 2>&1"
