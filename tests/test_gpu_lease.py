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

from pathlib import Path

import pytest

from noisymix import gpu
from noisymix.errors import UsageError

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
    for k in ("LOCAL_RANK", "CUDA_VISIBLE_DEVICES", "NOISYMIX_GPU_LEASED", "SLURM_JOB_ID"):
        env.pop(k, None)
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


# --- lock files: never followed, in a private folder ------------------------------------------


def test_lock_dir_is_private_and_checked(tmp_path, monkeypatch):
    made = tmp_path / "new" / "locks"
    gpu.lease_gpu(["0"], made, set_env=False).release()
    assert made.stat().st_mode & 0o777 == 0o700  # created private, whatever the umask
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(gpu.LeaseError, match="mode 0777.*chmod 700"):
        gpu.lease_gpu(["0"], shared, set_env=False)
    assert not any(shared.iterdir())  # nothing written there
    (tmp_path / "elsewhere").mkdir(mode=0o700)
    (tmp_path / "linked").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(gpu.LeaseError, match="symbolic link"):
        gpu.lease_gpu(["0"], tmp_path / "linked", set_env=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(gpu.LeaseError, match="not a folder"):
        gpu.lease_gpu(["0"], tmp_path / "file", set_env=False)
    uid = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: uid + 1)  # the folder belongs to someone else
    with pytest.raises(gpu.LeaseError, match="owned by uid"):
        gpu.lease_gpu(["0"], made, set_env=False)


def test_planted_links_are_refused_not_followed(tmp_path):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (locks / "gpu0.lock").symlink_to(victim)
    with pytest.raises(gpu.LeaseError, match="symbolic link"):
        gpu.lease_gpu(["0"], locks, set_env=False)
    os.link(victim, locks / "gpu1.lock")  # a hard link to a file of ours
    with pytest.raises(gpu.LeaseError, match="hard link"):
        gpu.lease_gpu(["1"], locks, set_env=False)
    assert victim.read_text() == "precious"
    (locks / "gpu0.lock").unlink()
    with gpu.lease_gpu(["0"], locks, set_env=False) as lease:
        assert lease.path == locks / "gpu0.lock"
        assert (locks / "gpu0.lock").stat().st_mode & 0o777 == 0o600


def test_default_lock_dir_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv("NOISYMIX_GPU_LOCK_DIR", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert gpu.default_lock_dir() == tmp_path / "noisymix-gpu-locks"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert gpu.default_lock_dir() == Path(f"/tmp/noisymix-gpu-locks-{os.getuid()}")


# --- inside a scheduler's grant -----------------------------------------------------------------


@pytest.fixture
def slurm(monkeypatch, tmp_path):
    for k in ("LOCAL_RANK", "TORCHELASTIC_RUN_ID", "NOISYMIX_GPUS", "NOISYMIX_GPU_LEASED"):
        monkeypatch.setenv(k, "")  # recorded, so that teardown also undoes what a lease sets
        monkeypatch.delenv(k)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # what the scheduler granted
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.setenv("NOISYMIX_GPU_LOCK_DIR", str(tmp_path / "locks"))
    return monkeypatch


def test_lease_stays_inside_the_granted_devices(slurm):
    assert gpu.visible_devices() == ["2", "3"] and gpu.should_lease()
    first = gpu.lease_gpu(timeout=1)
    try:
        assert first.device == "2" and os.environ["CUDA_VISIBLE_DEVICES"] == "2"
        assert first.path.name == "slurm4242-gpu2.lock"  # per job: ids may be renumbered
        assert not gpu.should_lease()  # a child noisymix uses the parent's device
    finally:
        first.release()
    slurm.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    slurm.setenv("NOISYMIX_GPUS", "0,1,2,3")  # a profile's list narrows the grant, never widens
    assert gpu.visible_devices() == ["2", "3"]
    a = gpu.lease_gpu(timeout=1, set_env=False)
    b = gpu.lease_gpu(timeout=1, set_env=False)
    assert {a.device, b.device} == {"2", "3"}
    with pytest.raises(TimeoutError):
        gpu.lease_gpu(timeout=0.2, set_env=False)
    a.release()
    b.release()
    with pytest.raises(gpu.LeaseError, match="outside"):
        gpu.lease_gpu(["0"], timeout=1)
    slurm.setenv("NOISYMIX_GPUS", "0,1")
    with pytest.raises(UsageError, match="none of the devices this job was granted"):
        gpu.visible_devices()
