# Prepare: verify (or fetch) each dataset and official release once; later rules depend on the
# marker, so a missing dataset fails here with one clear message. At smoke scale the fixtures
# rule first writes tiny datasets and release archives in the official layouts, and prepare
# fetches them from that local mirror through the same download/verify/extract code.


rule fixtures:
    output:
        "fixtures/mirror.json",
    params:
        cmd=get_cmd("fixtures"),
        code=get_code("fixtures"),
    log:
        "logs/fixtures/fixtures.log",
    benchmark:
        "benchmarks/fixtures/fixtures.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        gpu=0,
    shell:
        "{params.cmd}"


rule prepare:
    input:
        get_inputs("prepare"),
    output:
        "results/data/{name}.json",
    params:
        cmd=get_cmd("prepare"),
        code=get_code("prepare"),
    log:
        "logs/prepare/{name}.log",
    benchmark:
        "benchmarks/prepare/{name}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        gpu=0,
    shell:
        "{params.cmd}"
