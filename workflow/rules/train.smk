# Training: the main grid (dataset × arch × method × seed), the Table 4 ablation cells
# (NoisyMix with components switched off) and the transfer fine-tuning (Table 5).
# Every hyper-parameter is a `params:` entry, so `--rerun-triggers params` reruns exactly the
# runs whose settings changed. Only model files are declared outputs: the resume state
# (train_state.safetensors, metrics.jsonl) survives a failed job and the rerun continues it.


rule train:
    input:
        get_data_marker,
    output:
        model="results/runs/{dataset}/{arch}/{method}/seed{seed}/model.safetensors",
        meta="results/runs/{dataset}/{arch}/{method}/seed{seed}/model.json",
    params:
        method=get_method,
        width=PROFILE.width,
        scheme=get_scheme_params,
        epochs=PROFILE.train.epochs,
        batch_size=PROFILE.train.batch_size,
        lr=PROFILE.train.lr,
        weight_decay=PROFILE.train.weight_decay,
        subset=get_train_subset,
        data_root=get_data_root_flag,
        out=get_run_dir,
    log:
        "logs/train/{dataset}/{arch}/{method}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{dataset}/{arch}/{method}/seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=16000,
        gpu=1,
    shell:
        "noisymix --threads {threads} train --dataset {wildcards.dataset} --arch {wildcards.arch}"
        " --width {params.width} --method {params.method} {params.scheme}"
        " --epochs {params.epochs} --batch-size {params.batch_size} --lr {params.lr}"
        " --weight-decay {params.weight_decay} --seed {wildcards.seed} {params.subset}"
        " {params.data_root} --no-progress --out {params.out} > {log} 2>&1"


use rule train as train_ablation with:
    output:
        model="results/runs/{dataset}/{arch}/ablation/{cell}/seed{seed}/model.safetensors",
        meta="results/runs/{dataset}/{arch}/ablation/{cell}/seed{seed}/model.json",
    params:
        method=get_method,
        width=PROFILE.width,
        scheme=get_scheme_params,
        epochs=PROFILE.train.epochs,
        batch_size=PROFILE.train.batch_size,
        lr=PROFILE.train.lr,
        weight_decay=PROFILE.train.weight_decay,
        subset=get_train_subset,
        data_root=get_data_root_flag,
        out=get_ablation_dir,
    log:
        "logs/train_ablation/{dataset}/{arch}/{cell}/seed{seed}.log",
    benchmark:
        "benchmarks/train_ablation/{dataset}/{arch}/{cell}/seed{seed}.tsv"


rule finetune:
    input:
        model=get_source_model,
        data=get_target_marker,
    output:
        model="results/runs/{dataset}/{arch}/{method}/seed{seed}/transfer/{target}/model.safetensors",
        meta="results/runs/{dataset}/{arch}/{method}/seed{seed}/transfer/{target}/model.json",
    params:
        epochs=PROFILE.transfer.finetune.epochs,
        batch_size=PROFILE.transfer.finetune.batch_size,
        lr=PROFILE.transfer.finetune.lr,
        weight_decay=PROFILE.transfer.finetune.weight_decay,
        subset=get_finetune_subset,
        data_root=get_data_root_flag,
        out=get_transfer_dir,
    log:
        "logs/finetune/{dataset}/{arch}/{method}/seed{seed}/{target}.log",
    benchmark:
        "benchmarks/finetune/{dataset}/{arch}/{method}/seed{seed}/{target}.tsv"
    threads: 1
    resources:
        mem_mb=16000,
        gpu=1,
    shell:
        "noisymix --threads {threads} finetune --ckpt {input.model} --dataset {wildcards.target}"
        " {params.subset} {params.data_root}"
        " --epochs {params.epochs} --lr {params.lr} --weight-decay {params.weight_decay}"
        " --batch-size {params.batch_size} --seed {wildcards.seed} --out {params.out}"
        " > {log} 2>&1"
