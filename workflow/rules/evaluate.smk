# Evaluation: one `noisymix eval` per model over all of its benchmarks (clean, -C, -P, extra
# releases, calibration, FGSM) → one tidy Parquet table (+ a JSON summary) beside the model.


rule eval:
    input:
        model="results/runs/{dataset}/{arch}/{method}/seed{seed}/model.safetensors",
        benchmarks=get_eval_benchmark_inputs,
    output:
        results="results/runs/{dataset}/{arch}/{method}/seed{seed}/eval.parquet",
        summary="results/runs/{dataset}/{arch}/{method}/seed{seed}/eval.json",
    params:
        benchmarks=get_eval_benchmark_args,
        options=get_eval_options,
        data_root=get_data_root_flag,
    log:
        "logs/eval/{dataset}/{arch}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/eval/{dataset}/{arch}/{method}/seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=16000,
        gpu=1,
    shell:
        "noisymix --threads {threads} eval --ckpt {input.model} {params.benchmarks}"
        " {params.options} {params.data_root}"
        " --out {output.results} --json {output.summary} > {log} 2>&1"


use rule eval as eval_ablation with:
    input:
        model="results/runs/{dataset}/{arch}/ablation/{cell}/seed{seed}/model.safetensors",
        benchmarks=get_eval_benchmark_inputs,
    output:
        results="results/runs/{dataset}/{arch}/ablation/{cell}/seed{seed}/eval.parquet",
        summary="results/runs/{dataset}/{arch}/ablation/{cell}/seed{seed}/eval.json",
    log:
        "logs/eval_ablation/{dataset}/{arch}/{cell}/seed{seed}.log",
    benchmark:
        "benchmarks/eval_ablation/{dataset}/{arch}/{cell}/seed{seed}.tsv"


use rule eval as eval_transfer with:
    input:
        model="results/runs/{dataset}/{arch}/{method}/seed{seed}/transfer/{target}/model.safetensors",
        benchmarks=get_eval_benchmark_inputs,
    output:
        results="results/runs/{dataset}/{arch}/{method}/seed{seed}/transfer/{target}/eval.parquet",
        summary="results/runs/{dataset}/{arch}/{method}/seed{seed}/transfer/{target}/eval.json",
    log:
        "logs/eval_transfer/{dataset}/{arch}/{method}/seed{seed}/{target}.log",
    benchmark:
        "benchmarks/eval_transfer/{dataset}/{arch}/{method}/seed{seed}/{target}.tsv"
