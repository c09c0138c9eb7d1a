# Evaluation: one `noisymix eval` per model over all of its benchmarks (clean, -C, -P, extra
# releases, calibration, FGSM) → one tidy Parquet table (+ flat JSON metrics) beside the model.
# The rows say what the run is (main, ablation cell, transfer) as columns.


rule eval:
    input:
        get_inputs("eval"),
    output:
        results="results/runs/{dataset}/{arch}/{method}/seed{seed}/eval.parquet",
        summary="results/runs/{dataset}/{arch}/{method}/seed{seed}/eval.json",
    params:
        cmd=get_cmd("eval"),
        code=get_code("eval"),
    log:
        "logs/eval/{dataset}/{arch}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/eval/{dataset}/{arch}/{method}/seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=16000,
        gpu=GPU,
    shell:
        "{params.cmd}"


use rule eval as eval_ablation with:
    input:
        get_inputs("eval_ablation"),
    output:
        results="results/runs/{dataset}/{arch}/ablation/{cell}/seed{seed}/eval.parquet",
        summary="results/runs/{dataset}/{arch}/ablation/{cell}/seed{seed}/eval.json",
    params:
        cmd=get_cmd("eval_ablation"),
        code=get_code("eval_ablation"),
    log:
        "logs/eval_ablation/{dataset}/{arch}/{cell}/seed{seed}.log",
    benchmark:
        "benchmarks/eval_ablation/{dataset}/{arch}/{cell}/seed{seed}.tsv"


use rule eval as eval_transfer with:
    input:
        get_inputs("eval_transfer"),
    output:
        results="results/runs/{dataset}/{arch}/{method}/seed{seed}/transfer/{target}/eval.parquet",
        summary="results/runs/{dataset}/{arch}/{method}/seed{seed}/transfer/{target}/eval.json",
    params:
        cmd=get_cmd("eval_transfer"),
        code=get_code("eval_transfer"),
    log:
        "logs/eval_transfer/{dataset}/{arch}/{method}/seed{seed}/{target}.log",
    benchmark:
        "benchmarks/eval_transfer/{dataset}/{arch}/{method}/seed{seed}/{target}.tsv"
