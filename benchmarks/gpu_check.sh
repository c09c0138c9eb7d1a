#!/usr/bin/env bash
# One prepared pass over the CUDA paths and the GPU benchmarks, for a lent GPU machine.
# Runs the package from source; wheels the machine lacks travel in .whl/, reference checkouts
# (erichson/NoisyMix, hendrycks/robustness) in .refs/ — both ignored by git.
#   bash benchmarks/gpu_check.sh OUTDIR
set -uo pipefail
OUT=${1:?usage: gpu_check.sh OUTDIR}
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
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(), 'cpu threads', torch.get_num_threads())"

step "CUDA paths: training on cuda (digits, 1 epoch)"
for spec in "preactresnet18 erm" "wrn28_4 noisymix" "preactresnet18 manifold_mixup"; do
  set -- $spec
  timeout 60 python3 -m noisymix train --dataset digits --arch $1 --width 0.25 --method $2 \
    --epochs 1 --batch-size 64 --device cuda --num-workers 2 --no-progress --out $W/run-$1-$2 >$W/train.log 2>&1 \
    && echo "train $1 $2: ok" || { echo "train $1 $2: FAILED"; tail -4 $W/train.log; }
done

step "CPU and CUDA give the same corruptions and perturbations (counter-based streams)"
python3 - <<'PY'
import numpy as np, torch
from noisymix.corruptions import corrupt, list_corruptions
from noisymix.perturbations import perturb, PERTURBATIONS
x = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
for name in list_corruptions():
    a = corrupt(x, name, 3, "cifar", 0, device="cpu").numpy().astype(int)
    b = corrupt(x, name, 3, "cifar", 0, device="cuda").cpu().numpy().astype(int)
    d = np.abs(a - b)
    print(f"{name:18s} identical {np.mean(d == 0):.4f}  within 1: {np.mean(d <= 1):.4f}  max {d.max()}")
for name in PERTURBATIONS:
    a = perturb(x[:8], name, "cifar", 0, device="cpu").numpy().astype(int)
    b = perturb(x[:8], name, "cifar", 0, device="cuda").cpu().numpy().astype(int)
    d = np.abs(a - b)
    print(f"-P {name:15s} identical {np.mean(d == 0):.4f}  within 1: {np.mean(d <= 1):.4f}  max {d.max()}")
PY

step "CIFAR-10-C scale: generate 19 x 5 x 10,000 images on cuda, then evaluate"
python3 -c "import numpy as np; r=np.random.default_rng(0); np.save('$W/x.npy', r.integers(0,256,(10000,32,32,3),dtype=np.uint8)); np.save('$W/y.npy', r.integers(0,10,10000).astype(np.uint8))"
/usr/bin/time -f "corrupt (CLI, incl. start-up and writing 950,000 images) wall %e s" python3 -m noisymix corrupt --input $W/x.npy --labels $W/y.npy --device cuda --batch-size 2500 --no-progress --out $W/c10c
python3 - $W <<'PY'
import sys, time, torch
from noisymix.checkpoint import save_model
from noisymix.models import create_model
from noisymix.robustness import evaluate
ckpt = sys.argv[1] + "/m/model.safetensors"
save_model(ckpt, create_model("preactresnet18", 10, 1.0),
           {"arch": "preactresnet18", "width": 1.0, "num_classes": 10, "mean": [0.5] * 3,
            "std": [0.5] * 3, "dataset": "digits", "method": "erm", "seed": 0})
for prec in ("fp32", "bf16"):
    evaluate(ckpt, [sys.argv[1] + "/c10c"], device="cuda", limit=64, precision=prec)
    torch.cuda.synchronize(); t = time.perf_counter()
    df = evaluate(ckpt, [sys.argv[1] + "/c10c"], device="cuda", batch_size=2500, precision=prec)
    torch.cuda.synchronize(); s = time.perf_counter() - t
    n = int(df.query("severity > 0 and metric == 'accuracy'").n_images.sum())
    print(f"evaluate() PreActResNet-18 x1, {prec}: {n} images (15 x 5 x 10,000, reads and "
          f"checks included) in {s:.2f} s = {n / s:.0f} img/s")
PY

step "bench: training step on cuda vs the official NoisyMix code (same GPU)"
timeout 75 python3 benchmarks/bench_train.py --device cuda --width 1 --batch-size 128 --warmup 5 --steps 20 --workers 8 --reference .refs/NoisyMix --schemes erm augmix noisymix
step "bench: AugMix vs the official PIL pipeline (8 workers)"
timeout 45 python3 benchmarks/bench_augmix.py --batch 512 --iters 4 --workers 8 --reference .refs/NoisyMix
step "bench: -C generation, cifar preset (cuda) vs make_cifar_c.py (1 CPU core)"
timeout 90 python3 benchmarks/bench_corruptions.py --preset cifar --n 128 --device cuda --batch-size 128 --repeat 1 --reference .refs/robustness
step "bench: -C generation, imagenet preset (cuda, noisymix only)"
timeout 35 python3 benchmarks/bench_corruptions.py --preset imagenet --n 32 --device cuda --batch-size 32 --no-ref
step "torch.compile: do compiled and eager models take the same steps? (fp32, ERM then NoisyMix)"
timeout 45 python3 benchmarks/check_compile.py --device cuda --method erm --steps 2
timeout 100 python3 benchmarks/check_compile.py --device cuda --steps 6
step "bench: training step, torch.compile (throughput only: see the check above)"
timeout 60 python3 benchmarks/bench_train.py --device cuda --width 1 --batch-size 128 --warmup 5 --steps 20 --compile --schemes noisymix
