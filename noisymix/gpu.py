"""One GPU per job: file-lock leases, because Snakemake assigns no GPU ids (snakemake#281).

With ``snakemake --cores all --resources gpu=4`` up to four GPU jobs run at once, but nothing
tells each which device to use, so without help they all land on ``cuda:0``. Each job therefore
leases a device itself: it takes a non-blocking ``fcntl.flock`` on ``<lock_dir>/gpu<id>.lock``
for the first free id, sets ``CUDA_VISIBLE_DEVICES`` to that id before CUDA initialises (so the
job sees it as ``cuda:0``), and holds the lock for the rest of the process. The kernel drops an
flock when its process exits, however it exits (crash, kill -9), so a lease can never leak.
When every device is taken the caller polls with backoff until one frees up.

Context: NoisyMix (Erichson et al., arXiv:2202.01263); the reference code pins every job to a
hard-coded ``cuda:0`` (github.com/erichson/NoisyMix), which this module replaces.

Environment: ``NOISYMIX_GPUS`` ("0,1,2,3") lists the devices to share (default: every visible
GPU, from ``CUDA_VISIBLE_DEVICES``, ``nvidia-smi -L`` or torch); ``NOISYMIX_GPU_LOCK_DIR``
(default ``/tmp/noisymix-gpu-locks-<uid>``) holds the lock files and must be shared by the jobs
of one machine.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from pathlib import Path

ENV_GPUS = "NOISYMIX_GPUS"
ENV_LOCK_DIR = "NOISYMIX_GPU_LOCK_DIR"

_ACTIVE: "Lease | None" = None  # this process's lease; a module global keeps its fd open


class Lease:
    """A held GPU: ``device`` is the id written to ``CUDA_VISIBLE_DEVICES``."""

    def __init__(self, device: str, fd: int, path: Path):
        self.device = device
        self._fd: int | None = fd
        self.path = path

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the device back now (otherwise it is freed when the process exits)."""
        global _ACTIVE
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if _ACTIVE is self:
            _ACTIVE = None

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Lease(device={self.device!r}, held={self.held})"


def default_lock_dir() -> Path:
    return Path(os.environ.get(ENV_LOCK_DIR) or f"/tmp/noisymix-gpu-locks-{os.getuid()}")


def visible_devices() -> list[str]:
    """Device ids to share: NOISYMIX_GPUS, else CUDA_VISIBLE_DEVICES, else every GPU present.

    Counting GPUs must not initialise CUDA (that would freeze CUDA_VISIBLE_DEVICES before the
    lease sets it), hence ``nvidia-smi -L`` first; torch's ``device_count`` uses NVML as well.
    """
    env = os.environ.get(ENV_GPUS)
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip()]
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cvd is not None:
        return [d.strip() for d in cvd.split(",") if d.strip() and d.strip() != "-1"]
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True,
                                 timeout=30, check=True).stdout
            return [str(i) for i, line in enumerate(out.splitlines()) if line.startswith("GPU ")]
        except (subprocess.SubprocessError, OSError):
            pass
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # no torch build with CUDA: nothing to lease
        return []


def try_lease(devices: list, lock_dir: Path) -> Lease | None:
    """Lock the first free device of ``devices`` without waiting; None when all are held."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    for dev in devices:
        path = lock_dir / f"gpu{dev}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        # Who holds it, for humans (`cat /tmp/noisymix-gpu-locks-*/gpu*.lock`).
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return Lease(str(dev), fd, path)
    return None


def lease_gpu(devices: list[int] | list[str] | None = None, lock_dir: str | Path | None = None,
              timeout: float | None = None, poll: float = 0.05, max_poll: float = 2.0,
              set_env: bool = True) -> Lease:
    """Lease one free device and (``set_env``) point ``CUDA_VISIBLE_DEVICES`` at it.

    Blocks, polling with exponential backoff from ``poll`` to ``max_poll`` seconds, until a
    device frees up; ``timeout`` (seconds) raises ``TimeoutError`` instead of waiting forever.
    Must run before CUDA initialises in this process, else the new ``CUDA_VISIBLE_DEVICES``
    would be ignored; that case raises ``RuntimeError``.
    """
    devices = [str(d) for d in (visible_devices() if devices is None else devices)]
    if not devices:
        raise RuntimeError("no GPU to lease (set NOISYMIX_GPUS, e.g. NOISYMIX_GPUS=0,1)")
    lock_dir = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    if set_env:
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_initialized():
            raise RuntimeError("CUDA is already initialised in this process; lease the GPU "
                               "before any CUDA call")
    deadline = None if timeout is None else time.monotonic() + timeout
    wait = poll
    while True:
        lease = try_lease(devices, lock_dir)
        if lease is not None:
            break
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(f"no free GPU among {devices} after {timeout} s "
                               f"(locks in {lock_dir})")
        time.sleep(wait)
        wait = min(wait * 1.5, max_poll)
    if set_env:
        os.environ["CUDA_VISIBLE_DEVICES"] = lease.device
    return lease


def should_lease() -> bool:
    """Lease when NOISYMIX_GPUS is set or several GPUs are visible, never under torchrun."""
    if os.environ.get("LOCAL_RANK") is not None or os.environ.get("TORCHELASTIC_RUN_ID"):
        return False  # torchrun already gives every rank its own device
    if os.environ.get(ENV_GPUS) is not None:
        return True
    return len(visible_devices()) > 1


def ensure_lease() -> Lease | None:
    """This process's lease (taken once, kept until exit), or None when no lease is needed."""
    global _ACTIVE
    if _ACTIVE is not None and _ACTIVE.held:
        return _ACTIVE
    if not should_lease():
        return None
    _ACTIVE = lease_gpu()
    return _ACTIVE
