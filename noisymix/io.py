"""Atomic file writes (nothing is ever half-written: write to a temp file, fsync, rename) and
the output-folder lock (one writer per run or benchmark folder)."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

from noisymix.errors import BusyError, InputError, UsageError

LOCK_FILE = ".noisymix.lock"  # flock'ed while a process writes the folder


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; outputs are ordinary files
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def replace_dir(staged: str | Path, dest: str | Path) -> None:
    """Put the finished folder ``staged`` at ``dest``, replacing what is there, by renames
    (a folder cannot be replaced in one rename; the old one is moved aside, then removed)."""
    import shutil

    staged, dest = Path(staged), Path(dest)
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        os.replace(dest, old)
    os.replace(staged, dest)
    shutil.rmtree(old, ignore_errors=True)


def write_json(path: str | Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_manifest(out_dir: str | Path, include=None, **info) -> Path:
    """``out_dir/manifest.json``: ``info`` (format, kind, layout, generator settings: see
    ``noisymix.manifest``) and every file of the folder (``include(relative path)``: only
    those it accepts, e.g. a writer's own outputs), subfolders included, with its size and
    sha256 under its relative POSIX path. Dot-files (temporaries, records) are never listed.

    Written last and atomically, so its presence means the folder is complete; it is also the
    small file workflow engines track instead of the folder (Snakemake checksums small inputs,
    so outputs that DVC restores with fresh mtimes do not look changed).
    """
    from noisymix import __version__
    from noisymix.manifest import FORMAT, MANIFEST, file_table

    out_dir = Path(out_dir)
    info = {"format": FORMAT, "noisymix_version": __version__, **info}
    path = out_dir / MANIFEST
    write_json(path, {**info, "files": file_table(out_dir, include)})
    return path


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The git commit of the code in ``cwd`` (default: this package), with '-dirty' when that
    code (the folder, not results elsewhere in the repository) has uncommitted changes; None
    outside git."""
    import subprocess

    cwd = cwd or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10)
        if rev.returncode:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                "."], cwd=cwd, capture_output=True, text=True, timeout=10)
        return rev.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


# --- the output-folder lock --------------------------------------------------------------


@contextlib.contextmanager
def held_folder(out: str | Path, flag: str = "--out") -> Iterator[Path]:
    """Hold the output folder ``out`` (given by ``flag``) for writing: check it, create it,
    lock it (``BusyError`` if another process holds it) — the one lock of run, benchmark and
    dataset folders; if the body fails and the folder holds nothing, remove what was created
    (so that a refused run leaves no empty folder behind)."""
    out = Path(out)
    _check_out(out, flag)
    created = []
    for d in reversed([out, *out.parents]):
        if not d.exists():
            try:
                d.mkdir()
            except FileExistsError:
                continue
            except OSError as e:
                _remove_empty(created)
                raise UsageError(f"{flag} {out}: cannot create {d} ({e.strerror})") from None
            created.append(d)
    try:
        fd = _lock(out, flag)
        try:
            yield out
        finally:
            (out / LOCK_FILE).unlink(missing_ok=True)  # still holding it: no one else can
            os.close(fd)
    except BaseException:
        _remove_empty(created)
        raise


def _remove_empty(created: list[Path]) -> None:
    for d in reversed(created):
        try:
            d.rmdir()
        except OSError:
            return


def _check_out(out: Path, flag: str) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag} {out} is a file, not a folder; pass a folder path")
    p = out
    while not p.exists() and p != p.parent:
        if p.is_symlink():
            raise UsageError(f"{flag} {out}: {p} is a broken symbolic link")
        p = p.parent
    if not p.is_dir():
        raise UsageError(f"{flag} {out}: {p} is a file, not a folder")
    if not os.access(p, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {out}: {p} is not writable; pass another {flag}")


def _lock(out: Path, flag: str) -> int:
    """An exclusive flock on ``out/LOCK_FILE`` (never through a symbolic link)."""
    import fcntl

    path = out / LOCK_FILE
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise InputError(f"{path} is a symbolic link; remove it") from None
            raise UsageError(f"{flag} {out}: cannot write there ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise BusyError(f"{out} is being written by another process"
                            f"{f' (pid {holder})' if holder.isdigit() else ''}; wait for it "
                            f"to finish or use another {flag}") from None
        # the previous holder unlinks the file before it lets go: if ours is no longer the
        # one at `path`, someone may hold the new one — try again
        try:
            if os.path.samestat(os.fstat(fd), os.lstat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
