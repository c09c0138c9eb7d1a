"""Registry of the official robustness benchmark releases, with published checksums.

CIFAR-10-C / CIFAR-100-C / CIFAR-10-P / ImageNet-C / ImageNet-P: Hendrycks & Dietterich,
"Benchmarking Neural Network Robustness to Common Corruptions and Perturbations",
arXiv:1903.12261, github.com/hendrycks/robustness (Zenodo records 2535967, 3555552, 2235448,
3565846). ImageNet-R: Hendrycks et al., "The Many Faces of Robustness", arXiv:2006.16241,
github.com/hendrycks/imagenet-r.

Checksums are the published ones as quoted by other projects (the search trail is in each
``ReleaseFile.source``); RobustBench's ``zenodo_download`` reads the md5 from the Zenodo API at
run time, so it lists none. Where no published checksum could be found the field is ``None``
and only the size (if known) is checked; nothing here was computed by us.

``fetch_release(name, root)`` downloads (resuming), verifies, safely extracts and marks each
archive done, so a rerun after any interruption picks up where it stopped and a complete
dataset returns at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from noisymix.data.download import DownloadError, download, extract
from noisymix.errors import UsageError
from noisymix.vocab import ALL_CORRUPTIONS, PERTURBATIONS

__all__ = ["RELEASES", "Release", "ReleaseFile", "fetch_release", "get_release", "is_complete",
           "list_releases", "mirror_files", "with_mirror"]


def _zenodo(record: str, filename: str) -> str:
    return f"https://zenodo.org/records/{record}/files/{filename}?download=1"


@dataclass(frozen=True)
class ReleaseFile:
    """One archive of a release. ``size`` in bytes; digests are lowercase hex or ``None``."""

    filename: str
    url: str
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None
    # Entries (relative to the dataset folder) this archive creates; lets fetch_release accept
    # a dataset a user extracted by hand. ``None``: not known, rely on our completion marker.
    provides: tuple[str, ...] | None = None
    source: str = ""  # where the checksum/size is quoted


@dataclass(frozen=True)
class Release:
    name: str
    dirname: str  # the dataset folder under ``root`` that the readers take
    files: tuple[ReleaseFile, ...]
    # True: archives hold the dataset folder itself (CIFAR-10-C.tar -> CIFAR-10-C/...), so
    # extract into ``root``; False: archives hold its contents (blur.tar -> defocus_blur/...),
    # so extract into ``root/dirname``.
    archive_has_dir: bool
    page: str  # human download page
    reader: str  # class in noisymix.benchmarks.readers
    # Whether its archives may hold symlinks / hard links (then each is resolved through all
    # the others and must stay inside). None of the official releases has any, so every entry
    # refuses them: a link in a CIFAR-10-C.tar is a tampered archive, not a layout to honour.
    links: bool = False


# The CIFAR-10-C / CIFAR-100-C archives hold one .npy per corruption (15 test + 4 extra).
_CIFAR_C_NPY = tuple(f"{c}.npy" for c in ALL_CORRUPTIONS) + ("labels.npy",)

_TFDS = "tensorflow/datasets url_checksums (sha256, size)"

RELEASES: dict[str, Release] = {
    "cifar10-c": Release(
        name="cifar10-c",
        dirname="CIFAR-10-C",
        files=(
            ReleaseFile(
                "CIFAR-10-C.tar",
                _zenodo("2535967", "CIFAR-10-C.tar"),
                md5="56bf5dcef84df0e2308c6dcbcbbd8499",
                sha256="c72763e101c723b7c507b96205f7e938912a5d587376173b825850cf3cb876a7",
                size=2918471680,
                provides=tuple(f"CIFAR-10-C/{f}" for f in _CIFAR_C_NPY),
                source=f"md5: Zenodo 2535967 as quoted by many loaders; {_TFDS}",
            ),
        ),
        archive_has_dir=True,
        page="https://zenodo.org/records/2535967",
        reader="CifarC",
    ),
    "cifar100-c": Release(
        name="cifar100-c",
        dirname="CIFAR-100-C",
        files=(
            ReleaseFile(
                "CIFAR-100-C.tar",
                _zenodo("3555552", "CIFAR-100-C.tar"),
                md5="11f0ed0f1191edbf9fa23466ae6021d3",
                sha256="30ee6543a1bfd049fa33834b7c1ada301e7064b7fbe8fc38340eb8b62ced4b33",
                size=2918473216,
                provides=tuple(f"CIFAR-100-C/{f}" for f in _CIFAR_C_NPY),
                source=f"md5: Zenodo 3555552 as quoted by many loaders; {_TFDS}",
            ),
        ),
        archive_has_dir=True,
        page="https://zenodo.org/records/3555552",
        reader="CifarC",
    ),
    "cifar10-p": Release(
        name="cifar10-p",
        dirname="CIFAR-10-P",
        files=(
            ReleaseFile(
                "CIFAR-10-P.tar",
                _zenodo("2535967", "CIFAR-10-P.tar"),
                md5="125d6775afc5846ea84584d7524dedff",
                sha256=None,  # none published that we could find
                size=None,  # not found
                provides=tuple(f"CIFAR-10-P/{p}.npy" for p in PERTURBATIONS),
                source="md5 as quoted by kkirchheim/pytorch-ood (two versions agree)",
            ),
        ),
        archive_has_dir=True,
        page="https://zenodo.org/records/2535967",
        reader="CifarP",
    ),
    "imagenet-c": Release(
        name="imagenet-c",
        dirname="ImageNet-C",
        files=tuple(
            ReleaseFile(
                f"{group}.tar",
                _zenodo("2235448", f"{group}.tar"),
                md5=md5,
                size=size,
                provides=provides,
                source="md5 quoted by several loaders (pytorch-ood, shifthappens, ...); sizes "
                "as listed from the Zenodo API in a third-party README",
            )
            for group, md5, size, provides in (
                ("blur", "2d8e81fdd8e07fef67b9334fa635e45c", 7112704951,
                 ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur")),
                ("digital", "89157860d7b10d5797849337ca2e5c03", 7757510705,
                 ("contrast", "elastic_transform", "pixelate", "jpeg_compression")),
                ("extra", "d492dfba5fc162d8ec2c3cd8ee672984", 15789490144,
                 ("speckle_noise", "spatter", "gaussian_blur", "saturate")),
                ("noise", "e80562d7f6c3f8834afb1ecf27252745", 22565673785,
                 ("gaussian_noise", "shot_noise", "impulse_noise")),
                ("weather", "33ffea4db4d93fe4a428c40a6ce0c25d", 12797438995,
                 ("frost", "snow", "fog", "brightness")),
            )
        ),
        archive_has_dir=False,
        page="https://zenodo.org/records/2235448",
        reader="ImageNetC",
    ),
    # The robustness README points ImageNet-P to Zenodo 3565846 (mirror: Google Drive), not
    # to people.eecs.berkeley.edu. Which perturbations each tar holds is not documented.
    "imagenet-p": Release(
        name="imagenet-p",
        dirname="ImageNet-P",
        files=tuple(
            ReleaseFile(
                f"{group}.tar",
                _zenodo("3565846", f"{group}.tar"),
                md5=md5,
                source="md5 as quoted by kkirchheim/pytorch-ood (single source); size unknown",
            )
            for group, md5 in (
                ("blur", "869b2d2fb1604d1baa4316b5ecc9fdea"),
                ("digital", "8c1f73e4912812788e2fdb637cd55372"),
                ("noise", "619b37b5139ce764f77ce3bed3aee837"),
                ("weather", "a597ff6db8c6fb0dbcd6eb12ed620002"),
            )
        ),
        archive_has_dir=False,
        page="https://zenodo.org/records/3565846",
        reader="ImageNetP",
    ),
    "imagenet-r": Release(
        name="imagenet-r",
        dirname="imagenet-r",
        files=(
            ReleaseFile(
                "imagenet-r.tar",
                "https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar",
                md5="a61312130a589d0ca1a8fca1f2bd3337",
                sha256="18c6bf493b39a0d975d48e587437f562caab9c52ae6327dcfa9dd8eb54aa1b52",
                size=2191079936,
                provides=None,
                source=f"md5 quoted by several loaders; {_TFDS}",
            ),
        ),
        archive_has_dir=True,
        page="https://github.com/hendrycks/imagenet-r",
        reader="ImageNetR",
    ),
}


def list_releases() -> list[str]:
    return sorted(RELEASES)


def get_release(name: str) -> Release:
    """The registry entry ``name``; an unknown name is a ``UsageError`` listing the known ones."""
    try:
        return RELEASES[name]
    except KeyError:
        raise UsageError(f"unknown release {name!r}; choose one of: "
                         f"{', '.join(list_releases())}") from None


MIRROR_FORMAT = "noisymix-mirror/1"


def mirror_files(index: str | Path, name: str) -> tuple[ReleaseFile, ...]:
    """The files a local mirror (``mirror.json`` of `noisymix fixtures`) holds for ``name``.

    Each entry names the official file it stands for (``filename``), where it lies (``path``,
    relative to the index) and its checksums, so it goes through the same download, verify and
    extract code as the official URL would.
    """
    import json

    index = Path(index)
    try:
        data = json.loads(index.read_text())
    except (OSError, ValueError) as e:
        raise DownloadError(f"mirror index {index} is unreadable ({e}); regenerate it with "
                            f"`noisymix fixtures`") from None
    if not isinstance(data, dict) or data.get("format") != MIRROR_FORMAT:
        raise DownloadError(f"{index} is not a noisymix mirror index (format {MIRROR_FORMAT})")
    entries = data.get("datasets", {}).get(name)
    if not entries:
        raise DownloadError(f"mirror {index} has no files for {name!r}; regenerate it with "
                            f"`noisymix fixtures --name {name} --out {index.parent}`")
    return tuple(ReleaseFile(e["filename"], (index.parent / e["path"]).resolve().as_uri(),
                             md5=e.get("md5"), sha256=e.get("sha256"), size=e.get("size"),
                             source=f"mirror {index}") for e in entries)


def with_mirror(release: Release, index: str | Path) -> Release:
    """``release`` with every archive taken from the mirror (same file names, its checksums)."""
    import dataclasses

    mirrored = {f.filename: f for f in mirror_files(index, release.name)}
    missing = [f.filename for f in release.files if f.filename not in mirrored]
    if missing:
        raise DownloadError(f"mirror {index} lacks {missing} of {release.name}")
    files = tuple(dataclasses.replace(mirrored[f.filename], provides=f.provides)
                  for f in release.files)
    return dataclasses.replace(release, files=files)


def _marker(dataset_dir: Path, f: ReleaseFile) -> Path:
    return dataset_dir / f".noisymix-complete-{f.filename}"


def _is_done(dataset_dir: Path, f: ReleaseFile, root: Path, release: Release) -> bool:
    if _marker(dataset_dir, f).exists():
        return True
    if not f.provides:
        return False
    # A dataset extracted by hand counts as complete when every entry it should hold exists.
    base = root if release.archive_has_dir else dataset_dir
    return all((base / p).exists() for p in f.provides)


def is_complete(release: Release, root: Path) -> bool:
    """Whether every archive of ``release`` is already extracted under ``root``."""
    root = Path(root)
    return all(_is_done(root / release.dirname, f, root, release) for f in release.files)


def fetch_release(
    name: str,
    root: Path,
    files: list[str] | None = None,
    keep_archives: bool = False,
    progress: bool = True,
    release: Release | None = None,
) -> Path:
    """Make the release ``name`` available under ``root`` and return its dataset folder.

    For each archive (``files`` restricts to some filenames, e.g. ``["noise.tar"]`` of
    ImageNet-C): skip it if already extracted; otherwise download it to
    ``root/downloads/<name>/<file>`` (resuming a ``.part``; a file placed there by hand is
    verified and used), verify its published checksum and size, extract it safely and write a
    completion marker. Archives are deleted after extraction unless ``keep_archives``.
    ``release`` overrides the registry entry (tests, mirrors).
    """
    release = release or get_release(name)
    root = Path(root)
    dataset_dir = root / release.dirname
    wanted = release.files
    if files is not None:
        unknown = set(files) - {f.filename for f in release.files}
        if unknown:
            raise UsageError(f"{release.name} has no archive(s) {sorted(unknown)}; its "
                             f"archives are {', '.join(f.filename for f in release.files)}")
        wanted = tuple(f for f in release.files if f.filename in files)

    for f in wanted:
        if _is_done(dataset_dir, f, root, release):
            continue
        archive = root / "downloads" / release.name / f.filename
        try:
            download(f.url, archive, sha256=f.sha256, md5=f.md5, expected_size=f.size,
                     progress=progress)
        except DownloadError as e:
            raise DownloadError(f"{release.name}: {e} (release page: {release.page})") from e
        extract(archive, root if release.archive_has_dir else dataset_dir, links=release.links)
        if not dataset_dir.is_dir():
            raise DownloadError(
                f"{release.name}: {f.filename} did not create {dataset_dir}; the archive layout "
                f"differs from the official one. Extract it by hand into {dataset_dir}."
            )
        _marker(dataset_dir, f).write_text(f"{f.md5 or f.sha256 or ''}\n")
        if not keep_archives:
            archive.unlink()
    return dataset_dir
