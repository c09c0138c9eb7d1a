# Benchmarks built from each test set: -C (CIFAR-10-C layout) and -P sequences. With
# `source: release` in params.yaml the official sets are read instead and these rules idle.
# The tracked output is each folder's manifest.json (written last, with every file's sha256):
# a small file Snakemake can checksum, so folders that `dvc checkout` restores with fresh
# mtimes do not look updated.


rule corrupt:
    input:
        get_data_marker,
    output:
        "results/benchmarks/{dataset}-c/manifest.json",
    params:
        out=get_benchmark_dir,
        preset=PROFILE.corruptions.preset,
        corruptions=",".join(PROFILE.corruptions.names),
        severities=",".join(map(str, PROFILE.corruptions.severities)),
        seed=PROFILE.corruptions.seed,
        limit=get_corrupt_limit,
        data_root=get_data_root_flag,
    log:
        "logs/corrupt/{dataset}.log",
    benchmark:
        "benchmarks/corrupt/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=16000,
        gpu=1,
    shell:
        "noisymix --threads {threads} corrupt --dataset {wildcards.dataset} --split test"
        " {params.data_root} --preset {params.preset}"
        " --corruptions {params.corruptions} --severities {params.severities}"
        " --seed {params.seed} {params.limit} --out {params.out} > {log} 2>&1"


rule perturb:
    input:
        get_data_marker,
    output:
        "results/benchmarks/{dataset}-p/manifest.json",
    params:
        out=get_benchmark_dir,
        preset=PROFILE.perturbations.preset,
        perturbations=",".join(PROFILE.perturbations.names),
        seed=PROFILE.perturbations.seed,
        limit=get_perturb_limit,
        data_root=get_data_root_flag,
    log:
        "logs/perturb/{dataset}.log",
    benchmark:
        "benchmarks/perturb/{dataset}.tsv"
    threads: 1
    resources:
        mem_mb=16000,
        gpu=1,
    shell:
        "noisymix --threads {threads} perturb --dataset {wildcards.dataset} --split test"
        " {params.data_root} --preset {params.preset}"
        " --perturbations {params.perturbations} --seed {params.seed} {params.limit}"
        " --out {params.out} > {log} 2>&1"
