"""Verified, resumable downloads and safe archive extraction.

Used for the official benchmark releases (Hendrycks & Dietterich, "Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations", arXiv:1903.12261; Zenodo records and
github.com/hendrycks/robustness) and for Fashion-MNIST. The reference loaders (RobustBench's
``zenodo_download``, torchvision's ``download_and_extract_archive``) download in one go,
cannot resume a 20 GB archive, accept Zenodo's HTML error pages as data and extract with
``shutil.unpack_archive``/``extractall``, which follows ``../`` members. Here:

* ``download`` streams to ``<dest>.part``, resumes it with an HTTP ``Range`` request, refuses
  HTML pages and truncated files with one message that says what to do, verifies the
  published checksum(s) and only then renames the file to ``dest`` (so ``dest`` existing means
  "complete and verified").
* A file the user placed at ``dest`` by hand that fails verification is moved aside
  (``<name>.bad-<digest8>``), never deleted; the message says where it went.
* ``extract`` checks every member before writing anything (no absolute paths, no ``..``
  escapes, no device files; links resolved against every other link of the archive, so a pair
  such as ``ds/a -> b/..`` + ``ds/b -> ..`` cannot point outside; and links refused outright
  unless the caller allows them: no dataset noisymix fetches contains any), reads the whole
  archive once to prove it is complete, extracts into a temporary directory (through Python's
  ``filter="data"``, which re-checks at write time) and renames the finished entries into
  place, so a crash never leaves a half-written dataset that looks complete. It never deletes
  or replaces anything it did not put there itself: an entry of the same name that an earlier,
  interrupted extraction of the same archive placed (recorded in a journal by inode) is
  replaced, anything else is refused with a message.

Everything works offline on ``file://`` URLs; tests use a loopback ``http.server``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath

from tqdm import tqdm

from noisymix.errors import NoisymixError
from noisymix.io import held_folder

CHUNK = 1 << 20  # bytes read per network / hashing step (1 MiB)
TIMEOUT_S = 60  # socket timeout per read, seconds
_FILTER_ERROR = getattr(tarfile, "FilterError", ())  # absent before Python 3.11.4

__all__ = [
    "DownloadError",
    "EntryExistsError",
    "UnsafeArchiveError",
    "download",
    "extract",
    "file_digests",
    "verify_file",
]


class DownloadError(NoisymixError, RuntimeError):
    """A download failed or produced a file that is not the published one."""


class UnsafeArchiveError(NoisymixError, RuntimeError):
    """An archive member would be written outside the destination, or is not a plain entry."""


class EntryExistsError(NoisymixError, FileExistsError):
    """Extraction would replace an entry that this archive did not put there."""


# ------------------------------------------------------------------------------- checksums


def file_digests(path: Path, algorithms: tuple[str, ...] = ("md5", "sha256")) -> dict[str, str]:
    """Hex digests of ``path`` for each algorithm, computed in a single read pass."""
    hashes = {a: hashlib.new(a) for a in algorithms}
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            for h in hashes.values():
                h.update(block)
    return {a: h.hexdigest() for a, h in hashes.items()}


def verify_file(
    path: Path, sha256: str | None = None, md5: str | None = None, expected_size: int | None = None
) -> list[str]:
    """Problems found with ``path`` (empty list: it matches every expectation given)."""
    return _verify(path, sha256, md5, expected_size)[0]


def _verify(path: Path, sha256: str | None, md5: str | None,
            expected_size: int | None) -> tuple[list[str], dict[str, str]]:
    """(problems, the digests computed on the way) for ``path``."""
    path = Path(path)
    problems = []
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        problems.append(f"size is {size} bytes, expected {expected_size}")
    wanted = {k: v.strip().lower() for k, v in (("md5", md5), ("sha256", sha256)) if v}
    got: dict[str, str] = {}
    if wanted and not problems:  # a wrong size already settles it; skip hashing gigabytes
        got = file_digests(path, tuple(wanted))
        problems += [f"{a} is {got[a]}, expected {v}" for a, v in wanted.items() if got[a] != v]
    return problems, got


def _move_aside(path: Path, digests: dict[str, str]) -> Path:
    """Rename a user's file that failed verification to ``<name>.bad-<8 hex>`` beside it.

    The suffix is its sha256 (or md5) where verification computed one, else a hash of its
    size and first MiB (no second pass over gigabytes); a name in use gets ``-1``, ``-2``, ...
    """
    tag = digests.get("sha256") or digests.get("md5")
    if tag is None:
        h = hashlib.sha256(str(path.stat().st_size).encode())
        with open(path, "rb") as f:
            h.update(f.read(CHUNK))
        tag = h.hexdigest()
    aside = path.with_name(f"{path.name}.bad-{tag[:8]}")
    n = 0
    while os.path.lexists(aside):
        n += 1
        aside = path.with_name(f"{path.name}.bad-{tag[:8]}-{n}")
    os.rename(path, aside)
    return aside


# -------------------------------------------------------------------------------- download


def _looks_like_html(head: bytes) -> bool:
    # Zenodo / Google Drive answer quota, login and error conditions with a 200 HTML page.
    h = head.lstrip().lower()
    return h.startswith(b"<!doctype") or h.startswith(b"<html")


def _manual_hint(url: str, dest: Path) -> str:
    return (
        f"Download it manually from {url} (a browser works), save it as {dest} "
        f"and run the command again; it will be verified and used."
    )


def _open(url: str, start: int, dest: Path):
    """Response for ``url`` from byte ``start``; ``None`` if the range is past the end (416)."""
    headers = {"User-Agent": "noisymix-downloader"}
    if start > 0:
        headers["Range"] = f"bytes={start}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and start > 0:
            # Range not satisfiable: the .part is already complete (or too long); the
            # caller's size and checksum checks decide.
            return None
        raise DownloadError(f"HTTP {e.code} {e.reason} for {url}. {_manual_hint(url, dest)}") from e
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"Cannot reach {url} ({e}). {_manual_hint(url, dest)}") from e


def download(
    url: str,
    dest: Path,
    sha256: str | None = None,
    md5: str | None = None,
    expected_size: int | None = None,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest``, verified; resume ``dest.part`` if a previous try stopped.

    If ``dest`` already exists (e.g. placed there by hand) it is verified (checksums, size) and
    returned without any network access; a mismatching ``dest`` is moved aside to
    ``<dest>.bad-<digest8>`` (never deleted) and an error raised. ``sha256``/``md5`` are hex
    digests (either, both or neither); ``expected_size`` is in bytes.

    Raises ``DownloadError`` for HTTP/network failures, HTML pages served instead of data,
    truncated or oversized files and checksum mismatches (the bad file is removed; a merely
    interrupted ``.part`` is kept so that the next call resumes it).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")

    if dest.exists():
        problems, digests = _verify(dest, sha256, md5, expected_size)
        if not problems:
            return dest
        aside = _move_aside(dest, digests)
        raise DownloadError(
            f"{dest} exists but is not the published file ({'; '.join(problems)}); it was "
            f"moved aside to {aside} (not deleted). Run again to download it, or: "
            f"{_manual_hint(url, dest)}"
        )

    start = part.stat().st_size if part.exists() else 0
    if expected_size is not None and start > expected_size:
        part.unlink()  # cannot be a prefix of the right file
        start = 0
    total = _fetch_into(url, part, start, expected_size, progress, dest)

    size = part.stat().st_size
    if total is not None and size < total or expected_size is not None and size < expected_size:
        # Keep the .part: the next call resumes from here.
        raise DownloadError(
            f"Download of {url} is truncated: got {size} bytes of "
            f"{expected_size if expected_size is not None else total}. Run again to resume, "
            f"or: {_manual_hint(url, dest)}"
        )
    if expected_size is not None and size > expected_size:
        part.unlink()
        raise DownloadError(
            f"Download of {url} is {size} bytes, expected {expected_size}; removed. "
            f"{_manual_hint(url, dest)}"
        )
    with open(part, "rb") as f:  # a .part left by another tool may hold an error page
        if _looks_like_html(f.read(512)):
            part.unlink()
            raise DownloadError(
                f"{url} returned an HTML page, not the data file. {_manual_hint(url, dest)}"
            )
    problems = verify_file(part, sha256, md5)
    if problems:
        part.unlink()
        raise DownloadError(
            f"Checksum mismatch for {url} ({'; '.join(problems)}); the file was removed. "
            f"Run again, or: {_manual_hint(url, dest)}"
        )
    os.replace(part, dest)
    return dest


def _fetch_into(
    url: str, part: Path, start: int, expected_size: int | None, progress: bool, dest: Path
) -> int | None:
    """Append ``url`` from byte ``start`` to ``part``; return the full size if the server said."""
    resp = _open(url, start, dest)
    if resp is None:
        return None
    if start > 0 and getattr(resp, "status", None) == 206 and _range_start(resp) != start:
        # A partial answer for some other offset is useless: ask for the whole file.
        resp.close()
        start = 0
        resp = _open(url, 0, dest)

    with resp:
        status = getattr(resp, "status", None)
        ctype = (resp.headers.get("Content-Type") or "").lower()
        if ctype.startswith("text/html"):
            raise DownloadError(
                f"{url} returned an HTML page (Content-Type {ctype}), not the data file. "
                f"{_manual_hint(url, dest)}"
            )
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        resumed = start > 0 and status == 206 and _range_start(resp) == start
        if start > 0 and not resumed:
            start = 0  # the server ignored Range (or file:// URL): restart from scratch
        total = start + length if length is not None else expected_size

        mode = "ab" if resumed else "wb"
        first = True
        bar = tqdm(
            total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
            desc=dest.name, disable=not progress, file=sys.stderr, leave=False,
        )
        try:
            with open(part, mode) as out:
                while True:
                    try:
                        block = resp.read(CHUNK)
                    except (http.client.IncompleteRead, OSError) as e:
                        # Connection dropped: keep what we have for the next resume.
                        raise DownloadError(
                            f"Download of {url} was interrupted ({e!r}) after "
                            f"{out.tell()} bytes. Run again to resume, or: "
                            f"{_manual_hint(url, dest)}"
                        ) from e
                    if not block:
                        break
                    if first and not resumed and _looks_like_html(block[:512]):
                        out.close()
                        part.unlink()
                        raise DownloadError(
                            f"{url} returned an HTML page, not the data file. "
                            f"{_manual_hint(url, dest)}"
                        )
                    first = False
                    out.write(block)
                    bar.update(len(block))
        finally:
            bar.close()
    return total


def _range_start(resp) -> int | None:
    # "Content-Range: bytes 100-999/1000" -> 100
    cr = resp.headers.get("Content-Range") or ""
    try:
        return int(cr.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


# --------------------------------------------------------------------------------- extract


def _archive_kind(archive: Path) -> str:
    name = archive.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2")):
        return "tar"
    raise ValueError(f"unsupported archive type: {archive.name} (tar, tar.gz, tgz, tar.xz, zip)")


def _check_name(name: str, archive: Path) -> PurePosixPath:
    """Normalised relative member path; raise if absolute or escaping the destination."""
    raw = name.replace("\\", "/")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise UnsafeArchiveError(f"{archive.name}: absolute member path {name!r} refused")
    norm = os.path.normpath(raw)
    if norm == ".." or norm.startswith("../"):
        raise UnsafeArchiveError(f"{archive.name}: member {name!r} escapes the destination")
    return PurePosixPath(norm)


class _Member:
    """One archive member as the checks see it: its normalised path, its raw name, its kind
    (``file``, ``dir``, ``sym``, ``hard``) and a link's target."""

    __slots__ = ("path", "raw", "kind", "target")

    def __init__(self, path: PurePosixPath, raw: str, kind: str, target: str | None = None):
        self.path, self.raw, self.kind, self.target = path, raw, kind, target


def _check_link(member: PurePosixPath, target: str, archive: Path, hard: bool) -> None:
    target = target.replace("\\", "/")
    if target.startswith("/") or (len(target) > 1 and target[1] == ":"):
        raise UnsafeArchiveError(
            f"{archive.name}: link {str(member)!r} -> {target!r} is absolute; refused"
        )
    # Symlinks resolve against the link's folder, hard links against the archive root.
    base = "" if hard else str(member.parent)
    norm = os.path.normpath(os.path.join(base, target))
    if norm == ".." or norm.startswith("../"):
        raise UnsafeArchiveError(
            f"{archive.name}: link {str(member)!r} -> {target!r} points outside the destination"
        )


_MAX_HOPS = 40  # symlinks followed while resolving one path (the kernel's limit, ELOOP)


def _resolve(parts: list[str], symlinks: dict[tuple[str, ...], str]) -> tuple[str, ...] | None:
    """Where ``parts`` (relative to the destination) lands once every symlink of the archive
    exists, component by component as the kernel resolves it; None if it ever leaves the
    destination (stricter than realpath: going out and back in is refused too)."""
    out: list[str] = []
    todo = list(parts)
    hops = 0
    while todo:
        c = todo.pop(0)
        if c in ("", "."):
            continue
        if c == "..":
            if not out:
                return None
            out.pop()
            continue
        out.append(c)
        target = symlinks.get(tuple(out))
        if target is not None:
            hops += 1
            if hops > _MAX_HOPS or target.startswith("/"):
                return None
            out.pop()  # a symlink resolves against its own folder
            todo = target.split("/") + todo
    return tuple(out)


def _check_members(members: list[_Member], archive: Path, links: bool) -> None:
    """Refuse members written through a symlink and links that, followed through the other
    links of the archive, leave the destination; then, unless ``links``, any link at all."""
    symlinks = {m.path.parts: m.target.replace("\\", "/") for m in members if m.kind == "sym"}
    for m in members:
        # Walk the raw name as the kernel will ("a/b/../x" visits a/b): no folder on the way
        # may be a symlink, whatever the lexical normal form says.
        seen: list[str] = []
        comps = [c for c in m.raw.replace("\\", "/").split("/") if c not in ("", ".")]
        for i, c in enumerate(comps):
            if c == "..":
                if seen:
                    seen.pop()
                continue
            seen.append(c)
            if i < len(comps) - 1 and tuple(seen) in symlinks:
                raise UnsafeArchiveError(
                    f"{archive.name}: member {str(m.path)!r} lies under the symlink "
                    f"{'/'.join(seen)!r}"
                )
        if m.kind != "sym" and m.path.parts in symlinks:
            raise UnsafeArchiveError(
                f"{archive.name}: member {str(m.path)!r} has the name of a symlink of the "
                f"same archive; refused"
            )
    for m in members:
        if m.kind not in ("sym", "hard"):
            continue
        target = m.target.replace("\\", "/").split("/")
        base = list(m.path.parent.parts) if m.kind == "sym" else []
        if _resolve(base + target, symlinks) is None:
            raise UnsafeArchiveError(
                f"{archive.name}: link {str(m.path)!r} -> {m.target!r} resolves outside the "
                f"destination through the other links of the archive; refused"
            )
    if not links:
        m = next((m for m in members if m.kind in ("sym", "hard")), None)
        if m is not None:
            what = "symbolic" if m.kind == "sym" else "hard"
            raise UnsafeArchiveError(
                f"{archive.name}: member {str(m.path)!r} is a {what} link ({m.target!r}); the "
                f"datasets noisymix fetches hold no links, so archives with links are refused"
            )


def _validate_tar(archive: Path, links: bool) -> list[_Member]:
    try:
        with tarfile.open(archive, "r:*") as tf:
            # getmembers() walks every header to the end: a truncated or corrupt archive
            # (including a bad gzip/xz stream) fails here, before anything is written.
            members = tf.getmembers()
            size = archive.stat().st_size
            plain = not archive.name.lower().endswith(
                (".gz", ".tgz", ".xz", ".txz", ".bz2", ".tbz2")
            )
            for m in members:
                if plain and m.isfile() and m.offset_data + m.size > size:
                    raise tarfile.ReadError(f"member {m.name!r} is cut off")
    except (tarfile.TarError, EOFError, OSError) as e:
        raise UnsafeArchiveError(
            f"{archive} is truncated or corrupt ({e}); delete it and download it again"
        ) from e
    out = []
    for m in members:
        p = _check_name(m.name, archive)
        if m.ischr() or m.isblk() or m.isfifo() or m.isdev():
            raise UnsafeArchiveError(f"{archive.name}: device/fifo member {m.name!r} refused")
        if m.issym() or m.islnk():
            _check_link(p, m.linkname, archive, hard=m.islnk())
        if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
            raise UnsafeArchiveError(f"{archive.name}: unsupported member type {m.name!r}")
        kind = "sym" if m.issym() else "hard" if m.islnk() else "dir" if m.isdir() else "file"
        out.append(_Member(p, m.name, kind, m.linkname if kind in ("sym", "hard") else None))
    _check_members(out, archive, links)
    return out


def _validate_zip(archive: Path, links: bool) -> list[_Member]:
    try:
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()  # reads every member and checks its CRC
            if bad is not None:
                raise zipfile.BadZipFile(f"CRC error in {bad!r}")
            out = []
            for info in zf.infolist():
                p = _check_name(info.filename, archive)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    target = zf.read(info).decode("utf-8", "replace")
                    _check_link(p, target, archive, hard=False)
                    out.append(_Member(p, info.filename, "sym", target))
                    continue
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
                    raise UnsafeArchiveError(f"{archive.name}: device member {info.filename!r}")
                out.append(_Member(p, info.filename, "dir" if info.is_dir() else "file"))
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise UnsafeArchiveError(
            f"{archive} is truncated or corrupt ({e}); delete it and download it again"
        ) from e
    _check_members(out, archive, links)
    return out


def _journal(dest_dir: Path, archive: Path) -> Path:
    return dest_dir / f".noisymix-extracting-{archive.name}"


def _placed_by_us(journal: Path) -> dict[str, tuple[int, int]]:
    """name -> (st_dev, st_ino) of each entry an interrupted extraction renamed into place."""
    try:
        lines = journal.read_text().splitlines()
    except FileNotFoundError:
        return {}
    out = {}
    for line in lines:
        try:
            name, dev, ino = json.loads(line)
            out[str(name)] = (int(dev), int(ino))
        except (ValueError, TypeError):
            continue  # a line cut by the crash: that entry was not renamed yet
    return out


def _is_ours(target: Path, placed: dict[str, tuple[int, int]]) -> bool:
    st = os.lstat(target)
    return placed.get(target.name) == (st.st_dev, st.st_ino)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def extract(archive: Path, dest_dir: Path, *, links: bool = False) -> list[Path]:
    """Safely extract ``archive`` into ``dest_dir``; return the top-level entries created.

    The archive is fully read and every member checked before anything is written (raises
    ``UnsafeArchiveError``); symlinks and hard links are refused unless ``links`` (no dataset
    noisymix fetches needs them; with ``links`` each is resolved through all the others and
    must stay inside). Members are extracted into a temporary folder inside ``dest_dir`` and
    each top-level entry is then renamed into place. An existing entry of the same name is
    replaced only if an interrupted extraction of this archive put it there (its inode is in
    the journal ``.noisymix-extracting-<archive>``); anything else raises ``EntryExistsError``
    before a byte is written, so nothing outside the new entries is ever deleted.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    kind = _archive_kind(archive)
    members = (_validate_zip if kind == "zip" else _validate_tar)(archive, links)
    tops = sorted({m.path.parts[0] for m in members if m.path.parts})

    journal = _journal(dest_dir, archive)
    placed = _placed_by_us(journal)

    def refuse_existing(name: str) -> None:
        target = dest_dir / name
        if os.path.lexists(target) and not _is_ours(target, placed):
            raise EntryExistsError(
                f"{archive.name}: {target} already exists and was not extracted from this "
                f"archive; refusing to replace it (nothing was changed). Move it away or "
                f"delete it yourself, then run again"
            )

    for name in tops:
        refuse_existing(name)
    with held_folder(dest_dir, "--data-root"):  # one extraction here at a time, so a
        # temporary folder of this archive found here is a killed extraction's: remove it
        prefix = f".extract-{archive.name}-"
        for stale in dest_dir.iterdir():
            if stale.name.startswith(prefix) and stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=dest_dir))
        try:
            if kind == "zip":
                with zipfile.ZipFile(archive) as zf:
                    zf.extractall(tmp)
            else:
                with tarfile.open(archive, "r:*") as tf:
                    # Python's "data" filter re-checks at write time (resolving real paths) and
                    # drops setuid bits; our own checks above already refused anything unsafe.
                    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12
                        tf.extractall(tmp, filter="data")
                    else:  # pragma: no cover - older 3.11 patch releases
                        tf.extractall(tmp)
            created = []
            with open(journal, "a") as log:
                for entry in sorted(tmp.iterdir()):
                    target = dest_dir / entry.name
                    refuse_existing(entry.name)  # again: a user may have made it meanwhile
                    if os.path.lexists(target):  # ours, from an interrupted extraction
                        _remove(target)
                    # Journal first: a crash right after the rename leaves an entry a rerun knows.
                    st = os.lstat(entry)
                    log.write(json.dumps([entry.name, st.st_dev, st.st_ino]) + "\n")
                    log.flush()
                    os.fsync(log.fileno())
                    os.replace(entry, target)
                    created.append(target)
            journal.unlink()
            return created
        except _FILTER_ERROR as e:
            raise UnsafeArchiveError(f"{archive.name}: {e}") from e
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
