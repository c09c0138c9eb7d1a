# Training: the main grid (dataset × arch × method × seed, plus transfer sources outside it),
# the Table 4 ablation cells (NoisyMix with components switched off) and the transfer
# fine-tuning (Table 5). Every hyper-parameter is in the planned command (`params.cmd`), so
# `--rerun-triggers params` reruns exactly the runs whose settings changed. Only model files are
# declared outputs: the resume state (train_state.safetensors, metrics.jsonl) survives a failed
# job and the rerun continues it.


rule train:
    input:
        get_inputs("train"),
    output:
        model="results/runs/{dataset}/{arch}/{method}/seed{seed}/model.safetensors",
        meta="results/runs/{dataset}/{arch}/{method}/seed{seed}/model.json",
    wildcard_constraints:
        method=TRAINED_METHODS,
    params:
        cmd=get_cmd("train"),
        code=get_code("train"),
    log:
        "logs/train/{dataset}/{arch}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{dataset}/{arch}/{method}/seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=16000,
        gpu=GPU,
    shell:
        "{params.cmd}"


use rule train as train_ablation with:
    input:
        get_inputs("train_ablation"),
    output:
        model="results/runs/{dataset}/{arch}/ablation/{cell}/seed{seed}/model.safetensors",
        meta="results/runs/{dataset}/{arch}/ablation/{cell}/seed{seed}/model.json",
    params:
        cmd=get_cmd("train_ablation"),
        code=get_code("train_ablation"),
    log:
        "logs/train_ablation/{dataset}/{arch}/{cell}/seed{seed}.log",
    benchmark:
        "benchmarks/train_ablation/{dataset}/{arch}/{cell}/seed{seed}.tsv"


# Not `use rule train`: fine-tuning also starts from imported checkpoints, whose methods the
# train rule does not match.
rule finetune:
    input:
        get_inputs("finetune"),
    output:
        model="results/runs/{dataset}/{arch}/{method}/seed{seed}/transfer/{target}/model.safetensors",
        meta="results/runs/{dataset}/{arch}/{method}/seed{seed}/transfer/{target}/model.json",
    params:
        cmd=get_cmd("finetune"),
        code=get_code("finetune"),
    log:
        "logs/finetune/{dataset}/{arch}/{method}/seed{seed}/{target}.log",
    benchmark:
        "benchmarks/finetune/{dataset}/{arch}/{method}/seed{seed}/{target}.tsv"
    threads: 1
    resources:
        mem_mb=16000,
        gpu=GPU,
    shell:
        "{params.cmd}"


# Public checkpoints (`noisymix import`) as run folders: the imagenet profile's Table 1 models
# and the AlexNet that normalises mCE / mFR. Downloads (torchvision) or reads a saved file; at
# smoke scale the fixture mirror's stand-in weights.
rule import_model:
    input:
        get_inputs("import_model"),
    output:
        model="results/runs/{dataset}/{arch}/{method}/seed{seed}/model.safetensors",
        meta="results/runs/{dataset}/{arch}/{method}/seed{seed}/model.json",
    wildcard_constraints:
        method=IMPORTED_METHODS,
    params:
        cmd=get_cmd("import_model"),
        code=get_code("import_model"),
    log:
        "logs/import_model/{dataset}/{arch}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/import_model/{dataset}/{arch}/{method}/seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        gpu=0,
    shell:
        "{params.cmd}"
