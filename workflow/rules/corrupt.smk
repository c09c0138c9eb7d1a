# Benchmarks built from each test set: -C (CIFAR-10-C layout) and -P sequences. With
# `source: release` in params.yaml the official sets are read instead and these rules idle.
# The tracked output is each folder's manifest.json (written last, with every file's sha256):
# a small file Snakemake can checksum, so folders that `dvc checkout` restores with fresh
# mtimes do not look updated.


rule corrupt:
    input:
        get_inputs("corrupt"),
    output:
        "results/benchmarks/{dataset}-c/manifest.json",
    params:
        cmd=get_cmd("corrupt"),
        code=get_code("corrupt"),
    log:
        "logs/corrupt/{dataset}.log",
    benchmark:
        "benchmarks/corrupt/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=16000,
        gpu=GPU,
    shell:
        "{params.cmd}"


use rule corrupt as perturb with:
    input:
        get_inputs("perturb"),
    output:
        "results/benchmarks/{dataset}-p/manifest.json",
    params:
        cmd=get_cmd("perturb"),
        code=get_code("perturb"),
    log:
        "logs/perturb/{dataset}.log",
    benchmark:
        "benchmarks/perturb/{dataset}.tsv"
