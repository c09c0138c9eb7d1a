"""GPU leases under concurrency, simulated on CPU: NOISYMIX_GPUS=0,1 and more jobs than GPUs.

Each worker process leases a device, records (device, t_start, t_end) and holds it briefly. The
oracle: intervals on the same device never overlap (ids are distinct at any moment), every job
gets a device, and freed devices are reused.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from noisymix import gpu

WORKER = r"""
import json, os, sys, time
from noisymix.device import resolve_device
dev = resolve_device("auto")          # leases via NOISYMIX_GPUS before any CUDA call
lease = __import__("noisymix.gpu", fromlist=["x"])._ACTIVE
t0 = time.monotonic()
time.sleep(float(sys.argv[2]))
t1 = time.monotonic()
json.dump({"device": lease.device, "cvd": os.environ["CUDA_VISIBLE_DEVICES"],
           "start": t0, "end": t1, "torch_device": str(dev)}, open(sys.argv[1], "w"))
"""


def test_concurrent_jobs_get_distinct_devices(tmp_path):
    env = dict(os.environ, NOISYMIX_GPUS="0,1", NOISYMIX_GPU_LOCK_DIR=str(tmp_path / "locks"))
    env.pop("LOCAL_RANK", None)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / f"job{i}.json"), "0.4"],
                              env=env) for i in range(5)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    recs = [json.loads((tmp_path / f"job{i}.json").read_text()) for i in range(5)]
    assert all(r["device"] in ("0", "1") and r["cvd"] == r["device"] for r in recs)
    assert all(r["torch_device"] == "cpu" for r in recs)  # no CUDA here: still runs on CPU
    for dev in ("0", "1"):
        spans = sorted((r["start"], r["end"]) for r in recs if r["device"] == dev)
        for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
            assert s1 >= e0, f"device {dev} held by two jobs at once: {spans}"
    # 5 jobs on 2 devices: some device served several jobs in turn (freed devices are reused).
    assert max(sum(r["device"] == d for r in recs) for d in ("0", "1")) >= 3


def test_lease_release_and_reuse(tmp_path):
    a = gpu.lease_gpu(["0", "1"], tmp_path, set_env=False)
    b = gpu.lease_gpu(["0", "1"], tmp_path, set_env=False)
    assert {a.device, b.device} == {"0", "1"}
    with pytest.raises(TimeoutError):
        gpu.lease_gpu(["0", "1"], tmp_path, timeout=0.2, set_env=False)
    a.release()
    assert not a.held
    with gpu.lease_gpu(["0", "1"], tmp_path, timeout=1, set_env=False) as c:
        assert c.device == a.device
    b.release()


def test_lock_dropped_when_holder_dies(tmp_path):
    code = ("import sys, time; from noisymix.gpu import lease_gpu; "
            "l = lease_gpu(['7'], sys.argv[1], set_env=False); print('held', flush=True); "
            "time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip() == "held"
        assert gpu.try_lease(["7"], tmp_path) is None
    finally:
        p.kill()
        p.wait()
    deadline = time.monotonic() + 5
    lease = None
    while lease is None and time.monotonic() < deadline:
        lease = gpu.try_lease(["7"], tmp_path)
    assert lease is not None  # the kernel released the killed process's flock
    lease.release()


def test_should_lease_rules(monkeypatch):
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    monkeypatch.setenv("NOISYMIX_GPUS", "0,1,2,3")
    assert gpu.should_lease() and gpu.visible_devices() == ["0", "1", "2", "3"]
    monkeypatch.setenv("LOCAL_RANK", "0")  # under torchrun every rank has its device already
    assert not gpu.should_lease()
    monkeypatch.delenv("LOCAL_RANK")
    monkeypatch.delenv("NOISYMIX_GPUS")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")  # e.g. SLURM gave this job one GPU
    assert gpu.visible_devices() == ["3"] and not gpu.should_lease()
