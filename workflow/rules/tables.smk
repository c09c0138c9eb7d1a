# Tables and figures: the toy experiment of Appendix A and the aggregation of every tidy
# evaluation table into the paper's tables (Markdown/CSV/Parquet), figures and summary.json.


rule toy:
    output:
        json="results/toy/toy.json",
        png="results/toy/toy.png",
        grid="results/toy/toy_grid.npz",
    params:
        seed=PROFILE.toy.seed,
        out=get_toy_dir,
    log:
        "logs/toy/toy.log",
    benchmark:
        "benchmarks/toy/toy.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        gpu=0,
    shell:
        "noisymix toy --seed {params.seed} --out {params.out} > {log} 2>&1"


rule aggregate:
    input:
        results=get_eval_results,
        toy=get_toy_inputs,
    output:
        summary="results/{profile}/summary.json",
        tables=directory("results/{profile}/tables"),
        figures=directory("results/{profile}/figures"),
    params:
        toy=get_toy_flag,
        out=get_summary_dir,
    log:
        "logs/aggregate/{profile}.log",
    benchmark:
        "benchmarks/aggregate/{profile}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        gpu=0,
    shell:
        "noisymix aggregate --results {input.results} {params.toy} --out {params.out}"
        " > {log} 2>&1"
