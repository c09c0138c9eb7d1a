"""Benchmark folders that describe themselves: ``manifest.json``.

A generated -C/-P folder (``noisymix corrupt`` / ``noisymix perturb``) holds:

* ``manifest.json``, written last and atomically (``noisymix.io.write_manifest``): the format,
  what the folder is (``kind``: corruptions / perturbations; ``layout``: ``cifar`` arrays or
  ``imagenet`` folders), the generator settings (preset, seed, limit, names, severities, the
  source with its sha256 and image count, the noisymix version) and every file's size and
  sha256 (relative paths, files in subfolders too). Its presence means: complete.
* while a run is under way, ``.manifest.pending.json``: the same settings, so that an
  interrupted run is recognised (rerun with the same settings to finish) and a rerun with other
  settings is refused instead of mixing two sets in one folder.
* outputs are written under hidden temporary names (``noisymix.io.atomic_path``) and renamed
  when whole; dot-files are never listed in a manifest.

A folder with neither record is not a noisymix-generated set: an official release (the
readers detect its layout) or somebody's files, which a writer refuses to overwrite without
``--force``. Stdlib only (numpy imported lazily for array checksums).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Callable, Iterable

from noisymix.errors import InputError, UsageError

FORMAT = "noisymix-benchmark/1"
MANIFEST = "manifest.json"
PENDING = ".manifest.pending.json"
KINDS = ("corruptions", "perturbations")
LAYOUTS = ("cifar", "imagenet")  # cifar: <name>.npy arrays; imagenet: <name>/... image folders

# The settings a rerun must match, in the order a difference is reported, each with the flag
# (or thing) a user changes to get it. A dotted key reads inside ``source``.
SETTINGS: tuple[tuple[str, str], ...] = (
    ("kind", "kind"), ("layout", "layout"), ("preset", "--preset"), ("seed", "--seed"),
    ("limit", "--limit"), ("corruptions", "--corruptions"),
    ("perturbations", "--perturbations"), ("severities", "--severities"), ("size", "size"),
    ("image_format", "image format"), ("source.dataset", "--dataset"),
    ("source.split", "--split"), ("n_images", "number of images"),
    ("source.sha256", "source images (sha256)"), ("source.labels_sha256", "labels (sha256)"),
)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


# ------------------------------------------------------------------------------ checksums


def sha256_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def array_sha256(a) -> str:
    """sha256 of an array's bytes in C order (read in slices: a memmap is never loaded whole)."""
    import numpy as np

    h = hashlib.sha256()
    if a.ndim == 0 or len(a) == 0:
        h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()
    step = max(1, (64 << 20) // max(1, a[:1].nbytes))
    for i in range(0, len(a), step):
        h.update(np.ascontiguousarray(a[i:i + step]).data)
    return h.hexdigest()


def files_sha256(root: Path, rels: Iterable[str]) -> str:
    """sha256 over a sorted file list: each relative path, its size, then its bytes."""
    h = hashlib.sha256()
    for rel in sorted(rels):
        p = root / rel
        h.update(rel.encode() + b"\0" + str(p.stat().st_size).encode() + b"\0")
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------- file listing


def list_files(root: str | os.PathLike) -> list[str]:
    """Relative POSIX paths of the files under ``root``, sorted; dot-files and dot-folders
    (temporaries, records) and the top-level manifest are left out."""
    root = Path(root)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = Path(dirpath).relative_to(root)
        for f in filenames:
            if f.startswith(".") or (rel_dir == Path(".") and f == MANIFEST):
                continue
            if (Path(dirpath) / f).is_file():
                out.append((rel_dir / f).as_posix())
    return sorted(out)


def _temporaries(root: Path) -> list[tuple[str, str]]:
    """(temporary, the file it was to become) under ``root``: ``atomic_path``'s hidden
    ``.<name>.<random>.tmp`` and the visible ``<name>.tmp`` of older versions."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel_dir = Path(dirpath).relative_to(root)
        for f in filenames:
            if not f.endswith(".tmp"):
                continue
            target = f[1:].rsplit(".", 2)[0] if f.startswith(".") else f[:-4]
            out.append(((rel_dir / f).as_posix(), (rel_dir / target).as_posix()))
    return out


def file_table(root: str | os.PathLike,
               include: Callable[[str], bool] | None = None) -> dict[str, dict]:
    """{relative path: {"bytes", "sha256"}} of every listed file under ``root`` (that
    ``include`` accepts)."""
    root = Path(root)
    return {rel: {"bytes": (root / rel).stat().st_size, "sha256": sha256_file(root / rel)}
            for rel in list_files(root) if include is None or include(rel)}


# --------------------------------------------------------------------------- reading


def read_record(path: Path) -> dict:
    """A manifest or pending record, checked; ``InputError`` naming the file if it is bad."""
    fix = "delete it and rebuild the folder (rerun the generator with --force)"
    try:
        data = json.loads(path.read_text())
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not text ({e.reason}); {fix}") from e
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not valid JSON ({e.msg}, line {e.lineno}); {fix}") from e
    if not isinstance(data, dict):
        raise InputError(f"{path} holds a JSON {type(data).__name__}, not an object; {fix}")
    if "format" not in data:  # written by noisymix before manifests recorded settings
        raise InputError(f"{path} predates benchmark manifests with settings (no 'format'); "
                         f"{fix}")
    problem = _problem(data, pending=path.name == PENDING)
    if problem:
        raise InputError(f"{path}: {problem}; {fix}")
    return data


def _problem(m: dict, pending: bool) -> str | None:
    if m.get("format") != FORMAT:
        return f"format {m.get('format')!r} is not {FORMAT!r} (a newer noisymix?)"
    if m.get("kind") not in KINDS:
        return f"kind {m.get('kind')!r} is not one of {', '.join(KINDS)}"
    if m.get("layout") not in LAYOUTS:
        return f"layout {m.get('layout')!r} is not one of {', '.join(LAYOUTS)}"
    names = m.get(m["kind"])
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        return f"'{m['kind']}' must be a non-empty list of names"
    if m["kind"] == "corruptions":
        sevs = m.get("severities")
        if (not isinstance(sevs, list) or not sevs
                or not all(type(s) is int and 1 <= s <= 5 for s in sevs)):
            return "'severities' must be a non-empty list of integers 1..5"
    n = m.get("n_images")
    if type(n) is not int or n < 1:
        return "'n_images' must be a positive integer"
    if not isinstance(m.get("source", {}), dict):
        return "'source' must be an object"
    if pending:
        return None
    files = m.get("files")
    if not isinstance(files, dict):
        return "'files' must be an object {path: {bytes, sha256}}"
    for rel, entry in files.items():
        parts = rel.split("/")
        if rel.startswith("/") or ".." in parts or "" in parts or "\\" in rel:
            return f"file entry {rel!r} is not a relative path inside the folder"
        if (not isinstance(entry, dict) or type(entry.get("bytes")) is not int
                or entry["bytes"] < 0 or not isinstance(entry.get("sha256"), str)
                or not _SHA256.match(entry["sha256"])):
            return f"file entry {rel!r} needs 'bytes' (an integer) and 'sha256' (64 hex digits)"
    return None


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The folder's checked manifest, or ``None`` if it has none."""
    path = Path(folder) / MANIFEST
    return read_record(path) if path.is_file() else None


def is_interrupted(folder: str | os.PathLike) -> bool:
    """True if a generator run began here and did not finish (a pending record, no manifest)."""
    folder = Path(folder)
    return (folder / PENDING).is_file() and not (folder / MANIFEST).is_file()


def check_files(folder: str | os.PathLike, files: dict, sha256: bool) -> dict[str, str]:
    """{relative path: what is wrong} for the manifest's ``files`` (sizes always; sha256 when
    asked)."""
    folder = Path(folder)
    bad = {}
    for rel, entry in files.items():
        p = folder / rel
        try:
            size = p.stat().st_size
        except FileNotFoundError:
            bad[rel] = "is missing"
            continue
        if size != entry["bytes"]:
            bad[rel] = f"is {size} bytes, {MANIFEST} says {entry['bytes']}"
        elif sha256 and sha256_file(p) != entry["sha256"]:
            bad[rel] = f"has another sha256 than {MANIFEST} records"
    return bad


# ---------------------------------------------------------------------------- settings


def _get(d: dict, key: str):
    for k in key.split("."):
        d = d.get(k) if isinstance(d, dict) else None
    return d


def _show(v) -> str:
    if isinstance(v, list):
        return ",".join(map(str, v)) or "none"
    if isinstance(v, str) and _SHA256.match(v):
        return v[:12] + "…"
    return "none" if v is None else str(v)


def difference(old: dict, new: dict) -> tuple[str, str, str, str] | None:
    """(key, what, old value, new value) of the first setting that differs, else ``None``."""
    for key, what in SETTINGS:
        a, b = _get(old, key), _get(new, key)
        if a != b:
            return key, what, _show(a), _show(b)
    return None


def prepare_output(out: str | os.PathLike, settings: dict, owned: Callable[[str], bool],
                   force: bool = False) -> dict | None:
    """Make ``out`` ready for a generator run with ``settings``; return its complete manifest
    if one with these very settings is already there (a rerun), else ``None``.

    * same settings as the folder's manifest or pending record: resume (finished files stay);
    * other settings: ``UsageError`` naming the folder and the setting, unless ``force``;
    * files this writer would own but no record of how they were built: refused likewise;
    * ``force``: remove the files it owns (``owned(relative path)``), never anything else;
    * another kind or layout of benchmark: refused even with ``force``.

    Stale temporaries of owned files (from a killed run) are removed, and the pending record
    is written, before any output. Call it holding the folder (``noisymix.io.held_folder``),
    which checks and creates it: another writer's temporaries are not stale.
    """
    out = Path(out)
    record, previous = None, None
    for name in (MANIFEST, PENDING):
        if (out / name).is_file():
            try:
                record = read_record(out / name)
            except InputError:
                if not force:
                    raise
                record = None
            if name == MANIFEST:
                previous = record
            break
    rerun = "rerun with the same settings to resume"
    if record is not None:
        for key in ("kind", "layout"):
            if record[key] != settings[key]:
                raise UsageError(
                    f"{out} holds a {record['layout']}-layout {record['kind']} benchmark, not "
                    f"{settings['layout']}-layout {settings['kind']}; choose another --out")
        diff = difference(record, settings)
        if diff is None:
            _remove(out, [t for t, target in _temporaries(out) if owned(target)])
            if previous is None:
                _write_pending(out, settings)
            return previous
        if not force:
            _, what, was, now = diff
            raise UsageError(
                f"{out} was built with {what} {was}, not {now} ({name}); {rerun}, pass --force "
                f"to rebuild it, or choose another --out")
    else:
        mine = [f for f in list_files(out) if owned(f)]
        if mine and not force:
            more = f" and {len(mine) - 1} more" if len(mine) > 1 else ""
            raise UsageError(
                f"{out} already holds {mine[0]}{more} but no {MANIFEST} saying how they were "
                f"built; pass --force to rebuild them, or choose another --out")
    if force:
        _remove(out, [f for f in list_files(out) if owned(f)]
                + [t for t, target in _temporaries(out) if owned(target)] + [MANIFEST, PENDING])
    _write_pending(out, settings)
    return None


def _write_pending(out: Path, settings: dict) -> None:
    from noisymix.io import write_json

    write_json(out / PENDING, settings)


def _remove(out: Path, rels: list[str]) -> None:
    """Delete these files, then every folder they leave empty (up to ``out``, exclusive)."""
    dirs = set()
    for rel in rels:
        p = out / rel
        if p.is_file() or p.is_symlink():
            p.unlink()
            dirs.update(q for q in p.parents if q != out and out in q.parents)
    for d in sorted(dirs, key=lambda q: len(q.parts), reverse=True):
        try:
            d.rmdir()
        except OSError:
            pass  # not empty: holds files that are not ours


def finish(out: str | os.PathLike, settings: dict, previous: dict | None, wrote: bool,
           owned: Callable[[str], bool] | None = None) -> Path:
    """Write ``manifest.json`` (last, atomically; listing the files ``owned`` accepts: the
    writer's, not a user's notes beside them) and drop the pending record.

    A rerun that wrote nothing over a complete manifest of the same settings keeps that
    manifest as it is (no re-hashing; a damaged file stays visible to the readers' checks).
    """
    from noisymix.io import write_manifest

    out = Path(out)
    path = out / MANIFEST
    if previous is None or wrote:
        write_manifest(out, owned, **settings)
    (out / PENDING).unlink(missing_ok=True)
    return path


def generator_settings(kind: str, layout: str, names: Iterable[str], n_images: int,
                       source: dict, **settings) -> dict:
    """The record of one generator run (what ``manifest.json`` holds besides ``files``)."""
    from noisymix import __version__

    return {"format": FORMAT, "kind": kind, "layout": layout, kind: list(names), **settings,
            "n_images": int(n_images), "source": source, "noisymix_version": __version__}
