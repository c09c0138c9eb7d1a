# Tables and figures: the toy experiment of Appendix A and the aggregation of every tidy
# evaluation table into the paper's tables (Markdown/CSV/Parquet), figures and summary.json.


rule toy:
    output:
        json="results/toy/toy.json",
        png="results/toy/toy.png",
        grid="results/toy/toy_grid.npz",
    params:
        cmd=get_cmd("toy"),
        code=get_code("toy"),
    log:
        "logs/toy/toy.log",
    benchmark:
        "benchmarks/toy/toy.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        gpu=0,
    shell:
        "{params.cmd}"


rule aggregate:
    input:
        get_inputs("aggregate"),
    output:
        summary="results/{profile}/summary.json",
        # In `snakemake --report`: each CSV table and PNG figure, captioned (workflow/report/).
        tables=report(
            directory("results/{profile}/tables"),
            patterns=["{table}.csv"],
            caption="../report/tables.rst",
            category="Tables",
            subcategory="{profile}",
        ),
        figures=report(
            directory("results/{profile}/figures"),
            patterns=["{figure}.png"],
            caption="../report/figures.rst",
            category="Figures",
            subcategory="{profile}",
        ),
    params:
        cmd=get_cmd("aggregate"),
        code=get_code("aggregate"),
    log:
        "logs/aggregate/{profile}.log",
    benchmark:
        "benchmarks/aggregate/{profile}.tsv"
    threads: 1
    resources:
        mem_mb=8000,
        gpu=0,
    shell:
        "{params.cmd}"
