"""`noisymix train` under torchrun: 2 CPU processes, gloo backend, a tiny digits subset.

Each rank runs the real CLI through a small launcher that records, after training, a hash of
the rank's own model parameters and how often it wrote the checkpoint. Ranks see different
images, so identical parameters prove that DistributedDataParallel averaged the gradients.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or
                                not torch.distributed.is_gloo_available(),
                                reason="torch.distributed with gloo is not available")

LAUNCHER = r'''
import hashlib, json, os, sys
import torch
torch.set_num_threads(1)
import noisymix.distributed as dist
import noisymix.train as train_mod

rank = int(os.environ["RANK"])
models, saves = [], []
_wrap, _save = dist.wrap, train_mod.save_model

def wrap(model, device):
    models.append(model)
    return _wrap(model, device)

def save_model(path, model, meta):
    saves.append(str(path))
    return _save(path, model, meta)

dist.wrap, train_mod.save_model = wrap, save_model
from noisymix.cli import main
try:
    main(sys.argv[2:], standalone_mode=False)
finally:
    params = {n: p.detach().cpu() for n, p in models[0].named_parameters()} if models else {}
    digest = hashlib.sha256()
    for name in sorted(params):
        digest.update(name.encode()); digest.update(params[name].numpy().tobytes())
    with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as f:
        json.dump({"hash": digest.hexdigest(), "saves": saves,
                   "world": int(os.environ["WORLD_SIZE"])}, f)
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(120)
def test_train_under_torchrun_two_cpu_ranks(tmp_path: Path):
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    out, report = tmp_path / "run", tmp_path / "report"
    report.mkdir()
    # 101 images: not divisible by 2 ranks × batch 16, the case that used to deadlock.
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           str(launcher), str(report),
           "train", "--dataset", "digits", "--arch", "preactresnet18", "--width", "0.0625",
           "--method", "noisymix", "--epochs", "2", "--batch-size", "16", "--lr", "0.05",
           "--train-subset", "101", "--device", "cpu", "--no-progress", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CI": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=110, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    ranks = [json.loads((report / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 for r in ranks)
    # rank 0 alone writes the checkpoint, exactly once
    assert ranks[0]["saves"] == [str(out / "model.safetensors")]
    assert ranks[1]["saves"] == []
    assert sorted(p.name for p in out.iterdir()) == ["metrics.jsonl", "model.json",
                                                      "model.safetensors"]
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").read_text()
              .splitlines()]
    assert epochs == [1, 2]
    meta = json.loads((out / "model.json").read_text())
    assert meta["epochs"] == 2 and meta["method"] == "noisymix"
    # --batch-size is the global batch: 2 ranks × 8 images, as one process × 16
    assert meta["world_size"] == 2 and meta["per_rank_batch"] == 8

    # parameters are identical across ranks, and equal to the saved checkpoint
    assert ranks[0]["hash"] == ranks[1]["hash"]
    saved = load_file(str(out / "model.safetensors"))
    import hashlib

    digest = hashlib.sha256()
    from noisymix.checkpoint import load_model

    model, _ = load_model(out / "model.safetensors")
    for name, p in sorted(model.named_parameters()):
        digest.update(name.encode())
        digest.update(p.detach().numpy().tobytes())
    assert digest.hexdigest() == ranks[0]["hash"]
    assert all(torch.isfinite(v).all() for v in saved.values())


def test_shard_gives_equal_disjoint_parts():
    from noisymix.train import _shard

    order = torch.randperm(101, generator=torch.Generator().manual_seed(0))
    parts = [_shard(order, r, 2) for r in (0, 1)]
    assert len(parts[0]) == len(parts[1]) == 50
    assert not set(parts[0].tolist()) & set(parts[1].tolist())
    assert torch.equal(_shard(order, 0, 1), order)
