"""Atomic file writes: nothing is ever half-written (write to a temp file, fsync, rename)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator


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
