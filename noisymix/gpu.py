"""One GPU per job: file-lock leases, because Snakemake assigns no GPU ids (snakemake#281).

With ``snakemake --cores all --resources gpu=4`` up to four GPU jobs run at once, but nothing
tells each which device to use, so without help they all land on ``cuda:0``. Each job therefore
leases a device itself: it takes a non-blocking ``fcntl.flock`` on ``<lock_dir>/gpu<id>.lock``
for the first free id, sets ``CUDA_VISIBLE_DEVICES`` to that id before CUDA initialises (so the
job sees it as ``cuda:0``), and holds the lock for the rest of the process. The kernel drops an
flock when its process exits, however it exits (crash, kill -9), so a lease can never leak.
When every device is taken the caller polls with backoff until one frees up.

Lock files are never followed or shared with other users: the lock folder must be a real
folder owned by this user with mode 0700 (a folder someone else made, or one that others can
write, is refused with a message saying what to do), and each lock file is opened relative to
that folder with ``O_NOFOLLOW`` and must be a plain, singly linked file (a planted symlink or
hard link is refused, never truncated).

Under a scheduler that already granted devices (SLURM, a batch system, a container runtime
setting ``CUDA_VISIBLE_DEVICES``), the lease stays inside that grant: it chooses among the
granted ids (``NOISYMIX_GPUS`` can only narrow them) and narrows ``CUDA_VISIBLE_DEVICES`` to
the chosen one, never to a device the job was not given. Because schedulers may renumber
devices per job (every job sees "0"), locks taken inside a SLURM job are namespaced by its job
id, so two jobs' "gpu0" never wait on each other.

Context: NoisyMix (Erichson et al., arXiv:2202.01263); the reference code pins every job to a
hard-coded ``cuda:0`` (github.com/erichson/NoisyMix), which this module replaces.

Environment: ``NOISYMIX_GPUS`` ("0,1,2,3") lists the devices to share (default: every visible
GPU, from ``CUDA_VISIBLE_DEVICES``, ``nvidia-smi -L`` or torch); ``NOISYMIX_GPU_LOCK_DIR``
(default ``$XDG_RUNTIME_DIR/noisymix-gpu-locks``, else ``/tmp/noisymix-gpu-locks-<uid>``) holds
the lock files and must be shared by the jobs of one machine.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

from noisymix.errors import NoisymixError, UsageError

ENV_GPUS = "NOISYMIX_GPUS"
ENV_LOCK_DIR = "NOISYMIX_GPU_LOCK_DIR"
# Set beside CUDA_VISIBLE_DEVICES by a lease, so that a noisymix process started by the leasing
# one (it inherits both) uses the parent's device instead of waiting for the parent's lock.
ENV_LEASED = "NOISYMIX_GPU_LEASED"

_ACTIVE: "Lease | None" = None  # this process's lease; a module global keeps its fd open


class LeaseError(NoisymixError, RuntimeError):
    """No device can be leased, or the lock folder / a lock file is unsafe to use."""


class LeaseTimeout(LeaseError, TimeoutError):
    """Every device stayed busy for the whole ``timeout``."""


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


# ------------------------------------------------------------------------------ lock folder


def default_lock_dir() -> Path:
    """NOISYMIX_GPU_LOCK_DIR, else a folder in the per-user $XDG_RUNTIME_DIR, else /tmp."""
    if os.environ.get(ENV_LOCK_DIR):
        return Path(os.environ[ENV_LOCK_DIR])
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "noisymix-gpu-locks"
    return Path(f"/tmp/noisymix-gpu-locks-{os.getuid()}")


def open_lock_dir(lock_dir: str | Path) -> int:
    """An fd of ``lock_dir`` (created 0700 if missing) after checking that it is private.

    Refused (``LeaseError``): a symlink, not a folder, owned by another user, or readable,
    writable or searchable by group or others — anyone who can write there could plant a
    link or hold every lock."""
    lock_dir = Path(lock_dir)
    created = False
    try:
        lock_dir.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(lock_dir, 0o700)
        created = True
    except FileExistsError:
        pass
    except OSError as e:
        raise LeaseError(f"cannot create the GPU lock folder {lock_dir} ({e.strerror}); set "
                         f"{ENV_LOCK_DIR} to a private folder") from None
    try:
        fd = os.open(lock_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:  # O_NOFOLLOW|O_DIRECTORY on a symlink: ELOOP or ENOTDIR
        what = ("is a symbolic link" if os.path.islink(lock_dir) else
                "is not a folder" if e.errno in (errno.ENOTDIR, errno.ELOOP) else e.strerror)
        raise LeaseError(f"GPU lock folder {lock_dir} {what}; refusing to use it. Remove it or "
                         f"set {ENV_LOCK_DIR} to a private folder (mode 0700)") from None
    if created:
        os.fchmod(fd, 0o700)  # mkdir's mode was cut by the umask
    st = os.fstat(fd)  # the folder we opened, not whatever the path names a moment later
    problem = None
    if st.st_uid != os.getuid():
        problem = f"is owned by uid {st.st_uid}, not by you (uid {os.getuid()})"
    elif st.st_mode & 0o077:
        problem = (f"has mode {stat.S_IMODE(st.st_mode):04o}; others could plant links or "
                   f"hold the locks (run `chmod 700 {lock_dir}`)")
    if problem is not None:
        os.close(fd)
        raise LeaseError(f"GPU lock folder {lock_dir} {problem}; refusing to use it. Set "
                         f"{ENV_LOCK_DIR} to a private folder (mode 0700) if you cannot fix it")
    return fd


def _lock_name(dev: str) -> str:
    # Device ids are indices or UUIDs (old MIG ids hold "/"): one safe file name per id. Inside
    # a SLURM job the ids may be renumbered per job, so the job id keeps two jobs apart.
    job = os.environ.get("SLURM_JOB_ID") if os.environ.get("CUDA_VISIBLE_DEVICES") else None
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dev)
    return f"slurm{job}-gpu{safe}.lock" if job else f"gpu{safe}.lock"


def _open_lock(dir_fd: int, name: str, lock_dir: Path) -> int:
    """fd of the lock file ``name`` in the folder ``dir_fd``; never follows a link."""
    path = lock_dir / name
    try:
        fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise LeaseError(f"GPU lock file {path} is a symbolic link; refusing to follow it "
                             f"(remove it: a lock file is a plain file)") from None
        raise LeaseError(f"cannot open GPU lock file {path} ({e.strerror})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_uid != os.getuid():
        os.close(fd)
        raise LeaseError(f"GPU lock file {path} is not a plain file of yours (a hard link, "
                         f"device or another user's file); refusing to write it. Remove it")
    return fd


# ---------------------------------------------------------------------------------- devices


def _ids(value: str) -> list[str]:
    return [d.strip() for d in value.split(",") if d.strip() and d.strip() != "-1"]


def granted_devices() -> list[str] | None:
    """The ids a scheduler (or the user) put in ``CUDA_VISIBLE_DEVICES``; None when unset."""
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    return None if cvd is None else _ids(cvd)


def visible_devices() -> list[str]:
    """Device ids to share: NOISYMIX_GPUS, else CUDA_VISIBLE_DEVICES, else every GPU present.

    When ``CUDA_VISIBLE_DEVICES`` is set (a scheduler's grant), the ids always come from it:
    ``NOISYMIX_GPUS`` only narrows them, and naming none of them is an error, never a reason
    to leave the grant. Counting GPUs must not initialise CUDA (that would freeze
    CUDA_VISIBLE_DEVICES before the lease sets it), hence ``nvidia-smi -L`` first; torch's
    ``device_count`` uses NVML as well.
    """
    env = os.environ.get(ENV_GPUS)
    granted = granted_devices()
    if env is not None:
        wanted = _ids(env)
        if granted is None:
            return wanted
        inside = [d for d in granted if d in wanted]
        if wanted and not inside:
            raise UsageError(f"{ENV_GPUS}={env} names none of the devices this job was granted "
                             f"(CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']}); "
                             f"unset {ENV_GPUS} to share the granted ones")
        return inside
    if granted is not None:
        return granted
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


# ------------------------------------------------------------------------------------ lease


def try_lease(devices: list, lock_dir: Path) -> Lease | None:
    """Lock the first free device of ``devices`` without waiting; None when all are held."""
    lock_dir = Path(lock_dir)
    dir_fd = open_lock_dir(lock_dir)
    try:
        for dev in devices:
            name = _lock_name(str(dev))
            fd = _open_lock(dir_fd, name, lock_dir)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            # Who holds it, for humans (`cat <lock dir>/gpu*.lock`); the file is ours and plain.
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return Lease(str(dev), fd, lock_dir / name)
        return None
    finally:
        os.close(dir_fd)


def lease_gpu(devices: list[int] | list[str] | None = None, lock_dir: str | Path | None = None,
              timeout: float | None = None, poll: float = 0.05, max_poll: float = 2.0,
              set_env: bool = True) -> Lease:
    """Lease one free device and (``set_env``) point ``CUDA_VISIBLE_DEVICES`` at it.

    Blocks, polling with exponential backoff from ``poll`` to ``max_poll`` seconds, until a
    device frees up; ``timeout`` (seconds) raises ``LeaseTimeout`` (a ``TimeoutError``) instead
    of waiting forever. Must run before CUDA initialises in this process, else the new
    ``CUDA_VISIBLE_DEVICES`` would be ignored; that case raises ``LeaseError``. Devices outside
    a scheduler's ``CUDA_VISIBLE_DEVICES`` are never chosen.
    """
    devices = [str(d) for d in (visible_devices() if devices is None else devices)]
    granted = granted_devices()
    if set_env and granted is not None:
        outside = [d for d in devices if d not in granted]
        if outside:
            raise LeaseError(f"devices {outside} lie outside this job's CUDA_VISIBLE_DEVICES="
                             f"{os.environ['CUDA_VISIBLE_DEVICES']}; lease among those only")
    if not devices:
        raise LeaseError(f"no GPU to lease (set {ENV_GPUS}, e.g. {ENV_GPUS}=0,1)")
    lock_dir = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    if set_env:
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_initialized():
            raise LeaseError("CUDA is already initialised in this process; lease the GPU "
                             "before any CUDA call")
    deadline = None if timeout is None else time.monotonic() + timeout
    wait = poll
    while True:
        lease = try_lease(devices, lock_dir)
        if lease is not None:
            break
        if deadline is not None and time.monotonic() >= deadline:
            raise LeaseTimeout(f"no free GPU among {devices} after {timeout} s "
                               f"(locks in {lock_dir})")
        time.sleep(wait)
        wait = min(wait * 1.5, max_poll)
    if set_env:
        os.environ["CUDA_VISIBLE_DEVICES"] = lease.device
        os.environ[ENV_LEASED] = lease.device
    return lease


def should_lease() -> bool:
    """Lease when NOISYMIX_GPUS is set or several GPUs are visible; never under torchrun, nor
    in a process whose parent leased its device already (it passes it down)."""
    if os.environ.get("LOCAL_RANK") is not None or os.environ.get("TORCHELASTIC_RUN_ID"):
        return False  # torchrun already gives every rank its own device
    leased = os.environ.get(ENV_LEASED)
    if leased is not None and leased == os.environ.get("CUDA_VISIBLE_DEVICES"):
        return False
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
