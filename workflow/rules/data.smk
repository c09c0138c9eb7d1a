# Prepare: verify (or fetch) each dataset and official release once; later rules depend on the
# marker, so a missing dataset fails here with one clear message.


rule prepare:
    output:
        "results/data/{name}.json",
    params:
        download=get_download_flag,
    log:
        "logs/prepare/{name}.log",
    benchmark:
        "benchmarks/prepare/{name}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        gpu=0,
    shell:
        "noisymix prepare --dataset {wildcards.name} {params.download} --out {output} > {log} 2>&1"
