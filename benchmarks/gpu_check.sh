#!/usr/bin/env bash
# One prepared pass over every CUDA path and the GPU benchmarks, for a lent GPU machine.
# Runs the package from source; wheels the machine lacks travel in .whl/ (see README, "GPU").
#   bash benchmarks/gpu_check.sh OUTDIR [quick]
set -uo pipefail
OUT=${1:?usage: gpu_check.sh OUTDIR}; MODE=${2:-full}
mkdir -p "$OUT"; W=$(mktemp -d)
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:.
else
  export PYTHONPATH=.
fi
export PYTHONUNBUFFERED=1
nm() { python3 -m noisymix "$@"; }
step() { echo; echo "=== $* ($(date +%T))"; }
step machine
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, torchvision; print('torch', torch.__version__, 'tv', torchvision.__version__, torch.cuda.get_device_name(), 'cpu threads', torch.get_num_threads())"

step "CUDA paths: train every scheme 1 epoch on digits (cuda)"
for m in erm mixup manifold_mixup cutmix nfm augmix noisymix; do
  timeout 120 python3 -m noisymix train --dataset digits --arch preactresnet18 --width 0.25 --method $m \
    --epochs 1 --batch-size 64 --device cuda --num-workers 2 --no-progress --out $W/run-$m >$W/train-$m.log 2>&1 \
    && echo "train $m: ok $(grep -o '"test_acc"[^,]*' $W/run-$m/model.json 2>/dev/null | head -1)" \
    || { echo "train $m: FAILED"; tail -5 $W/train-$m.log; }
done
step "CUDA paths: corrupt / perturb / eval on cuda"
nm corrupt --dataset digits --limit 256 --device cuda --no-progress --out $W/c && echo corrupt ok
nm perturb --dataset digits --limit 32 --device cuda --no-progress --out $W/p && echo perturb ok
nm corrupt --dataset digits --limit 256 --device cpu --no-progress --corruptions gaussian_noise,fog,glass_blur --severities 3 --out $W/c-cpu && echo corrupt-cpu ok
python3 - $W <<'PY'
import sys, numpy as np, pathlib
w = pathlib.Path(sys.argv[1])
for name in ("gaussian_noise", "fog", "glass_blur"):
    a, b = np.load(w / "c" / f"{name}.npy")[512:768], np.load(w / "c-cpu" / f"{name}.npy")
    d = np.abs(a.astype(int) - b.astype(int))
    print(f"cuda vs cpu {name} s3: identical {np.mean(d == 0):.4f}, max |diff| {d.max()}")
PY
nm eval --ckpt $W/run-noisymix/model.safetensors --benchmark clean --fgsm-eps 8 --device cuda --json $W/e0.json && cat $W/e0.json; echo
nm eval --ckpt $W/run-noisymix/model.safetensors --benchmark $W/c --device cuda --json $W/e1.json && cat $W/e1.json; echo
nm eval --ckpt $W/run-noisymix/model.safetensors --benchmark $W/p --device cuda --json $W/e2.json && cat $W/e2.json; echo

step "bench: training step (cuda, bf16 autocast + channels-last), PreActResNet-18 x1, batch 128"
timeout 150 python3 benchmarks/bench_train.py --device cuda --width 1 --batch-size 128 --steps 20 --warmup 5 \
  --schemes erm mixup manifold_mixup cutmix nfm augmix noisymix
step "bench: AugMix"
timeout 60 python3 benchmarks/bench_augmix.py --batch 512 --iters 10
step "bench: -C generation, cifar preset (cuda)"
timeout 150 python3 benchmarks/bench_corruptions.py --preset cifar --n 1024 --size 32 --device cuda --batch-size 1024
[ "$MODE" = quick ] && exit 0
step "bench: -C generation, imagenet preset (cuda, noisymix only)"
timeout 200 python3 benchmarks/bench_corruptions.py --preset imagenet --n 64 --size 224 --device cuda --batch-size 64 --no-ref
step "bench: -C evaluation"
timeout 100 python3 benchmarks/bench_eval.py --device cuda --width 1 --n 10000
