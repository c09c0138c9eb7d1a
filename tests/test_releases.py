"""Verified downloads, safe extraction, release registry and benchmark readers (all offline).

Downloads use ``file://`` URLs and a loopback ``http.server`` in a thread (Range, HTML and
truncation cases). Images are scikit-learn's bundled handwritten digits upscaled to 32×32×3
(and to odd sizes to show that nothing is resized); fixtures are built in ``tmp_path`` in the
official on-disk layouts.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import re
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from noisymix.benchmarks import (
    IMAGENET_R_WNIDS,
    RELEASES,
    CifarC,
    CifarP,
    ImageNetC,
    ImageNetP,
    ImageNetR,
    fetch_release,
    imagenet_r_mask,
    iter_batches,
)
from noisymix.benchmarks.releases import Release, ReleaseFile
from noisymix.data.download import DownloadError, UnsafeArchiveError, download, extract

pytestmark = pytest.mark.timeout(60)

PAYLOAD = np.random.default_rng(0).bytes(300_000)  # local generator, not global state
MD5 = hashlib.md5(PAYLOAD).hexdigest()
SHA = hashlib.sha256(PAYLOAD).hexdigest()


# ------------------------------------------------------------------------------ fixtures


def digits_rgb(n: int, size: tuple[int, int] = (32, 32)) -> tuple[np.ndarray, np.ndarray]:
    """n real digit images, uint8 (n, H, W, 3), tinted per channel, and their labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    g = (d.images[:n] * (255 / 16)).astype(np.float32)  # (n, 8, 8) in 0..255
    t = torch.nn.functional.interpolate(torch.from_numpy(g)[:, None], size=size, mode="bilinear")
    g = t[:, 0].numpy()
    rgb = np.stack([g, 0.8 * g + 30, 255 - g], axis=-1).clip(0, 255).astype(np.uint8)
    return rgb, d.target[:n].astype(np.int64)


class _Handler(http.server.BaseHTTPRequestHandler):
    # Routes: /data (honours Range), /norange (ignores it), /html (text/html page),
    # /html-octet (HTML body labelled as binary), /cut (announces the full length, sends half).
    def log_message(self, *args):  # keep pytest output quiet
        pass

    def do_GET(self):
        srv = self.server
        srv.ranges.append(self.headers.get("Range"))
        if self.path == "/html" or self.path == "/html-octet":
            body = b"<!DOCTYPE html><html><body>quota exceeded</body></html>"
            self.send_response(200)
            html = self.path == "/html"
            self.send_header("Content-Type", "text/html" if html else "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        data = srv.payload
        rng = self.headers.get("Range")
        if self.path == "/data" and rng:
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            if start >= len(data):
                self.send_error(416)
                return
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Type", "application/x-tar")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/cut":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)  # loopback only
    srv.payload = PAYLOAD
    srv.ranges = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _file_url(tmp_path: Path, data: bytes = PAYLOAD, name: str = "src.bin") -> str:
    src = tmp_path / name
    src.write_bytes(data)
    return src.as_uri()


# ------------------------------------------------------------------------------ download


def test_download_good_checksum(tmp_path):
    url = _file_url(tmp_path)
    dest = tmp_path / "out" / "file.tar"
    assert download(url, dest, sha256=SHA, md5=MD5, expected_size=len(PAYLOAD), progress=False)
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("file.tar.part").exists()
    # Present and verified: returned without touching the (now removed) source.
    (tmp_path / "src.bin").unlink()
    assert download(url, dest, md5=MD5, progress=False) == dest


def test_download_bad_checksum_refused_and_removed(tmp_path):
    url = _file_url(tmp_path)
    dest = tmp_path / "file.tar"
    with pytest.raises(DownloadError, match="md5"):
        download(url, dest, md5="0" * 32, progress=False)
    assert not dest.exists() and not dest.with_name("file.tar.part").exists()
    with pytest.raises(DownloadError, match="sha256"):
        download(url, dest, sha256="f" * 64, progress=False)
    assert not dest.exists()
    # A file already at dest (placed by hand) that does not match is moved aside, not lost.
    dest.write_bytes(PAYLOAD[:-1] + b"x")
    bad_md5 = hashlib.md5(PAYLOAD[:-1] + b"x").hexdigest()
    with pytest.raises(DownloadError, match="not the published file.*moved aside") as e:
        download(url, dest, md5=MD5, progress=False)
    aside = tmp_path / f"file.tar.bad-{bad_md5[:8]}"
    assert not dest.exists() and str(aside) in str(e.value)
    assert aside.read_bytes() == PAYLOAD[:-1] + b"x"


def test_download_html_detected(server, tmp_path):
    srv, base = server
    for route in ("/html", "/html-octet"):
        dest = tmp_path / f"{route[1:]}.tar"
        with pytest.raises(DownloadError, match="HTML page") as e:
            download(base + route, dest, progress=False)
        assert "manually" in str(e.value) and str(dest) in str(e.value)
        assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()
    # An HTML body behind a file:// URL (no headers at all) is caught by sniffing.
    url = _file_url(tmp_path, b"  <html><head></head></html>", "page.bin")
    with pytest.raises(DownloadError, match="HTML page"):
        download(url, tmp_path / "p.tar", progress=False)


def test_download_truncated_detected(server, tmp_path):
    srv, base = server
    dest = tmp_path / "cut.tar"
    with pytest.raises(DownloadError, match="(?i)interrupted|truncated"):
        download(base + "/cut", dest, md5=MD5, progress=False)
    assert not dest.exists()
    part = dest.with_name("cut.tar.part")
    assert part.exists() and 0 < part.stat().st_size < len(PAYLOAD)  # kept for resuming
    # A short file without any length header: caught against expected_size.
    url = _file_url(tmp_path, PAYLOAD[:1000], "short.bin")
    with pytest.raises(DownloadError, match="truncated"):
        download(url, tmp_path / "short.tar", expected_size=len(PAYLOAD), progress=False)
    assert not (tmp_path / "short.tar").exists()


def test_download_resumes_partial_with_range(server, tmp_path):
    srv, base = server
    dest = tmp_path / "data.tar"
    k = 123_457
    dest.with_name("data.tar.part").write_bytes(PAYLOAD[:k])
    download(base + "/data", dest, md5=MD5, expected_size=len(PAYLOAD), progress=False)
    assert srv.ranges == [f"bytes={k}-"]
    assert dest.read_bytes() == PAYLOAD


def test_download_complete_part_and_416(server, tmp_path):
    srv, base = server
    dest = tmp_path / "data.tar"
    dest.with_name("data.tar.part").write_bytes(PAYLOAD)  # finished, but never renamed
    download(base + "/data", dest, md5=MD5, expected_size=len(PAYLOAD), progress=False)
    assert srv.ranges == [f"bytes={len(PAYLOAD)}-"] and dest.read_bytes() == PAYLOAD


def test_download_restarts_when_range_ignored(server, tmp_path):
    srv, base = server
    dest = tmp_path / "data.tar"
    dest.with_name("data.tar.part").write_bytes(b"garbage prefix")  # wrong bytes, too
    download(base + "/norange", dest, sha256=SHA, progress=False)
    assert srv.ranges == ["bytes=14-"]  # asked, server answered 200 with the whole file
    assert dest.read_bytes() == PAYLOAD


# ------------------------------------------------------------------------------- extract


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode="w") -> Path:
    with tarfile.open(path, mode) as tf:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            else:
                tf.addfile(info)
    return path


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


@pytest.mark.parametrize(
    "members, why",
    [
        ([(_file("ok.txt"), b"ok"), (_file("../evil.txt"), b"x")], "escapes"),
        ([(_file("a/../../evil.txt"), b"x")], "escapes"),
        ([(_file("/tmp/noisymix_abs_evil.txt"), b"x")], "absolute"),
        ([(_link("link", "../../outside"), None)], "points outside"),
        ([(_link("link", "/etc/passwd"), None)], "absolute"),
        ([(_file("f"), b"x"), (_link("hard", "../f", tarfile.LNKTYPE), None)], "points outside"),
        ([(_link("a", "."), None), (_file("a/a/../x"), b"x")], "under the symlink"),
    ],
)
def test_extract_refuses_unsafe_members(tmp_path, members, why):
    archive = _tar(tmp_path / "evil.tar", members)
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchiveError, match=why):
        extract(archive, dest)
    assert not dest.exists() or not any(dest.iterdir())  # nothing written at all
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/noisymix_abs_evil.txt").exists()


def test_extract_refuses_device_files(tmp_path):
    dev = tarfile.TarInfo("dev/null0")
    dev.type = tarfile.CHRTYPE
    with pytest.raises(UnsafeArchiveError, match="device"):
        extract(_tar(tmp_path / "dev.tar", [(dev, None)]), tmp_path / "d")


def test_extract_zip_traversal_refused_and_good_zip(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../evil.txt", b"x")
    with pytest.raises(UnsafeArchiveError, match="escapes"):
        extract(bad, tmp_path / "z")
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("set/a.bin", PAYLOAD[:5000])
        zf.writestr("set/sub/b.txt", b"hello")
    created = extract(good, tmp_path / "z")
    assert created == [tmp_path / "z" / "set"]
    assert (tmp_path / "z/set/a.bin").read_bytes() == PAYLOAD[:5000]
    assert (tmp_path / "z/set/sub/b.txt").read_bytes() == b"hello"


@pytest.mark.parametrize("suffix, mode", [(".tar", "w"), (".tar.gz", "w:gz"), (".tar.xz", "w:xz")])
def test_extract_good_tar_atomically(tmp_path, suffix, mode):
    members = [(_file("DS/x.npy"), PAYLOAD[:20_000]), (_file("DS/sub/y.txt"), b"y")]
    archive = _tar(tmp_path / f"good{suffix}", members, mode)
    dest = tmp_path / "dest"
    assert extract(archive, dest) == [dest / "DS"]
    assert (dest / "DS/x.npy").read_bytes() == PAYLOAD[:20_000]
    assert sorted(p.name for p in dest.iterdir()) == ["DS"]  # no temp folder or journal left
    # An entry of the same name that this archive did not put there is never replaced.
    (dest / "DS" / "mine.txt").write_text("the user's")
    with pytest.raises(FileExistsError, match="already exists.*nothing was changed"):
        extract(archive, tmp_path / "dest")
    assert (dest / "DS" / "mine.txt").read_text() == "the user's"


def test_extract_truncated_archive_writes_nothing(tmp_path):
    whole = _tar(tmp_path / "whole.tar.gz", [(_file("DS/x.bin"), PAYLOAD)], "w:gz")
    blob = whole.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(UnsafeArchiveError, match="truncated or corrupt"):
        extract(cut, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    plain = _tar(tmp_path / "whole.tar", [(_file("DS/x.bin"), PAYLOAD)])
    cut = tmp_path / "cut.tar"
    cut.write_bytes(plain.read_bytes()[:100_000])
    with pytest.raises(UnsafeArchiveError, match="truncated or corrupt"):
        extract(cut, tmp_path / "dest2")
    assert not (tmp_path / "dest2").exists()


def test_extract_failure_midway_leaves_no_partial_entries(tmp_path, monkeypatch):
    archive = _tar(tmp_path / "a.tar", [(_file("DS/x.bin"), b"x" * 10)])
    dest = tmp_path / "dest"

    def boom(self, path, *a, **k):
        (Path(path) / "DS").mkdir()
        (Path(path) / "DS" / "half.bin").write_bytes(b"x")
        raise OSError("disk full")

    monkeypatch.setattr(tarfile.TarFile, "extractall", boom)
    with pytest.raises(OSError, match="disk full"):
        extract(archive, dest)
    assert not dest.exists()  # nothing half-written, not even the folder it created
    dest.mkdir()
    with pytest.raises(OSError, match="disk full"):
        extract(archive, dest)
    assert list(dest.iterdir()) == []  # a folder that was there stays, empty


def test_extract_removes_a_killed_extraction_and_refuses_a_concurrent_one(tmp_path):
    from noisymix.errors import BusyError
    from noisymix.io import held_folder

    archive = _tar(tmp_path / "a.tar", [(_file("DS/x.bin"), b"x" * 10)])
    dest = tmp_path / "dest"
    killed = dest / ".extract-a.tar-k1ll3d"  # what SIGKILL mid-extraction leaves
    (killed / "DS").mkdir(parents=True)
    (killed / "DS" / "x.bin").write_bytes(b"x")
    other = dest / ".extract-b.tar-live"  # another archive's: not this run's to judge
    other.mkdir()
    with held_folder(dest, "--data-root"):
        with pytest.raises(BusyError, match="another process.*--data-root"):
            extract(archive, dest)
        assert killed.exists()  # a live extraction's folder is never removed
    assert extract(archive, dest) == [dest / "DS"]
    assert sorted(p.name for p in dest.iterdir()) == [".extract-b.tar-live", "DS"]


# ---------------------------------------------------------------------------- releases


def test_registry_entries_are_well_formed():
    assert set(RELEASES) == {
        "cifar10-c", "cifar100-c", "cifar10-p", "imagenet-c", "imagenet-p", "imagenet-r"
    }
    for rel in RELEASES.values():
        assert rel.files and rel.page.startswith("https://")
        for f in rel.files:
            assert f.url.startswith("https://") and f.filename in f.url
            assert f.md5 is None or re.fullmatch(r"[0-9a-f]{32}", f.md5)
            assert f.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", f.sha256)
    assert "2535967" in RELEASES["cifar10-c"].files[0].url
    assert "3555552" in RELEASES["cifar100-c"].files[0].url
    assert [f.filename for f in RELEASES["imagenet-c"].files] == [
        "blur.tar", "digital.tar", "extra.tar", "noise.tar", "weather.tar"
    ]
    assert all("2235448" in f.url for f in RELEASES["imagenet-c"].files)
    # Every ImageNet-C corruption comes from exactly one archive.
    provided = [c for f in RELEASES["imagenet-c"].files for c in f.provides]
    assert len(provided) == len(set(provided)) == 19


def _cifar_c_tar(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    x, y = digits_rgb(4)
    src = tmp_path / "build" / "CIFAR-10-C"
    src.mkdir(parents=True)
    imgs = np.concatenate([np.clip(x.astype(int) + 9 * s, 0, 255) for s in range(5)]).astype(
        np.uint8
    )
    np.save(src / "fog.npy", imgs)
    np.save(src / "labels.npy", np.tile(y, 5))
    archive = tmp_path / "CIFAR-10-C.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(src, arcname="CIFAR-10-C")
    return archive, imgs, y


def test_fetch_release_end_to_end_and_idempotent(tmp_path):
    archive, imgs, y = _cifar_c_tar(tmp_path)
    data = archive.read_bytes()
    rel = Release(
        name="toy-c", dirname="CIFAR-10-C", archive_has_dir=True, page="https://example.org",
        reader="CifarC",
        files=(ReleaseFile("CIFAR-10-C.tar", archive.as_uri(), md5=hashlib.md5(data).hexdigest(),
                           size=len(data)),),
    )
    root = tmp_path / "data"
    out = fetch_release("toy-c", root, release=rel, progress=False)
    assert out == root / "CIFAR-10-C"
    xs, ys = CifarC(out).load("fog", 3)
    np.testing.assert_array_equal(xs, imgs[8:12])
    np.testing.assert_array_equal(ys, y)
    assert not (root / "downloads" / "toy-c" / "CIFAR-10-C.tar").exists()  # archive dropped
    archive.unlink()  # second call must not need the source at all
    assert fetch_release("toy-c", root, release=rel, progress=False) == out


def test_fetch_release_refuses_wrong_checksum_and_html(tmp_path, server):
    srv, base = server
    archive, _, _ = _cifar_c_tar(tmp_path)
    rel = Release(
        name="toy-c", dirname="CIFAR-10-C", archive_has_dir=True, page="https://example.org",
        reader="CifarC", files=(ReleaseFile("CIFAR-10-C.tar", archive.as_uri(), md5="0" * 32),),
    )
    with pytest.raises(DownloadError, match="Checksum mismatch.*release page"):
        fetch_release("toy-c", tmp_path / "data", release=rel, progress=False)
    assert not (tmp_path / "data" / "CIFAR-10-C").exists()
    rel_html = Release(
        name="toy-c", dirname="CIFAR-10-C", archive_has_dir=True, page="https://example.org",
        reader="CifarC", files=(ReleaseFile("CIFAR-10-C.tar", base + "/html", md5="0" * 32),),
    )
    with pytest.raises(DownloadError, match="HTML page"):
        fetch_release("toy-c", tmp_path / "data", release=rel_html, progress=False)


def test_fetch_release_imagenet_style_archives_extract_into_dataset_dir(tmp_path):
    x, _ = digits_rgb(1)
    build = tmp_path / "build"
    for corruption in ("gaussian_noise", "fog"):
        d = build / corruption / "1" / "n00000001"
        d.mkdir(parents=True)
        Image.fromarray(x[0]).save(d / "a.png")
    files = []
    for group, corruption in (("noise", "gaussian_noise"), ("weather", "fog")):
        path = tmp_path / f"{group}.tar"
        with tarfile.open(path, "w") as tf:
            tf.add(build / corruption, arcname=corruption)
        files.append(ReleaseFile(f"{group}.tar", path.as_uri(),
                                 md5=hashlib.md5(path.read_bytes()).hexdigest()))
    rel = Release(name="toy-inc", dirname="ImageNet-C", files=tuple(files),
                  archive_has_dir=False, page="https://example.org", reader="ImageNetC")
    out = fetch_release("toy-inc", tmp_path / "data", files=["noise.tar"], release=rel,
                        progress=False)
    assert ImageNetC(out).corruptions == ["gaussian_noise"]
    fetch_release("toy-inc", tmp_path / "data", release=rel, progress=False)
    assert ImageNetC(out).corruptions == ["gaussian_noise", "fog"]  # canonical order


# ------------------------------------------------------------------------------ readers


def test_cifar_c_reader_slices_labels_per_severity(tmp_path):
    x, y = digits_rgb(6)
    n = len(y)
    blocks = [np.clip(x.astype(int) + 7 * s, 0, 255).astype(np.uint8) for s in range(5)]
    np.save(tmp_path / "fog.npy", np.concatenate(blocks))
    np.save(tmp_path / "gaussian_noise.npy", np.concatenate(blocks[::-1]))
    np.save(tmp_path / "my_custom.npy", np.concatenate(blocks))
    # Different labels per block, so a reader that reuses labels[:N] would be caught.
    label_blocks = [(y + s) % 10 for s in range(5)]
    np.save(tmp_path / "labels.npy", np.concatenate(label_blocks))
    ds = CifarC(tmp_path)
    assert ds.corruptions == ["gaussian_noise", "fog", "my_custom"]
    for s in (1, 3, 5):
        xs, ys = ds.load("fog", s)
        assert isinstance(xs, np.memmap) and xs.shape == (n, 32, 32, 3) and xs.dtype == np.uint8
        np.testing.assert_array_equal(xs, blocks[s - 1])
        np.testing.assert_array_equal(ys, label_blocks[s - 1])
        xg, yg = ds.load("gaussian_noise", s)
        np.testing.assert_array_equal(xg, blocks[5 - s])
        np.testing.assert_array_equal(yg, label_blocks[s - 1])
    # labels.npy holding only the N labels is accepted for every severity.
    np.save(tmp_path / "labels.npy", y)
    np.testing.assert_array_equal(ds.load("fog", 4)[1], y)


def test_cifar_c_reader_errors(tmp_path):
    x, y = digits_rgb(5)
    np.save(tmp_path / "fog.npy", np.concatenate([x] * 5))
    with pytest.raises(FileNotFoundError, match="labels.npy is missing"):
        CifarC(tmp_path).load("fog", 1)
    np.save(tmp_path / "labels.npy", np.arange(7))
    with pytest.raises(ValueError, match="7 labels"):
        CifarC(tmp_path).load("fog", 1)
    with pytest.raises(FileNotFoundError, match="snow.*present: fog"):
        CifarC(tmp_path).load("snow", 1)
    np.save(tmp_path / "bad.npy", np.zeros((7, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match="expected uint8"):
        CifarC(tmp_path).load("bad", 1)
    with pytest.raises(ValueError, match="severity"):
        CifarC(tmp_path).load("fog", 6)
    with pytest.raises(FileNotFoundError, match="fetch_release"):
        CifarC(tmp_path / "nope")


def test_cifar_p_reader(tmp_path):
    x, y = digits_rgb(3)
    seq = np.stack([np.roll(x, k, axis=2) for k in range(4)], axis=1)  # (3, 4, 32, 32, 3)
    np.save(tmp_path / "translate.npy", seq)
    np.save(tmp_path / "gaussian_noise_2.npy", seq)
    np.save(tmp_path / "gaussian_noise.npy", seq)
    ds = CifarP(tmp_path)
    assert ds.perturbations == ["gaussian_noise", "gaussian_noise_2", "translate"]
    assert ds.labels is None
    got = ds.load("translate")
    assert isinstance(got, np.memmap) and got.shape == (3, 4, 32, 32, 3)
    np.testing.assert_array_equal(got, seq)
    np.save(tmp_path / "labels.npy", y)
    np.testing.assert_array_equal(ds.labels, y)
    np.save(tmp_path / "labels.npy", np.arange(5))
    with pytest.raises(ValueError, match="5 labels"):
        ds.load("translate")


def test_imagenet_c_reader_decodes_without_resize(tmp_path):
    x, _ = digits_rgb(4, size=(36, 40))  # non-square: any resize/crop would show
    classes = ["n00000001", "n00000002", "n00000003", "n00000004", "n00000005"]
    expect = {}
    for corruption in ("contrast", "gaussian_noise"):
        for sev in (1, 2):
            for j, wnid in enumerate(("n00000004", "n00000002")):
                d = tmp_path / corruption / str(sev) / wnid
                d.mkdir(parents=True)
                Image.fromarray(x[2 * j]).save(d / "img0.png")
                Image.fromarray(x[2 * j + 1]).save(d / "img1.JPEG", quality=95)
                expect[(corruption, sev, wnid)] = (x[2 * j], x[2 * j + 1])
    ic = ImageNetC(tmp_path, classes=classes)
    assert ic.corruptions == ["gaussian_noise", "contrast"]
    ds = ic.load("contrast", 2)
    assert len(ds) == 4
    assert [t for _, t in ds.samples] == [1, 1, 3, 3]  # index in the clean class list
    img, target = ds[2]
    assert img.dtype == torch.uint8 and tuple(img.shape) == (36, 40, 3) and target == 3
    np.testing.assert_array_equal(img.numpy(), expect[("contrast", 2, "n00000004")][0])
    jpg, _ = ds[3]  # lossy, but same size and close
    assert tuple(jpg.shape) == (36, 40, 3)
    ref = expect[("contrast", 2, "n00000004")][1].astype(float)
    assert np.abs(jpg.numpy() - ref).mean() < 6
    batches = list(iter_batches(ds, batch_size=3))
    assert [tuple(b[0].shape) for b in batches] == [(3, 36, 40, 3), (1, 36, 40, 3)]
    assert torch.equal(torch.cat([b[1] for b in batches]), torch.tensor([1, 1, 3, 3]))
    # Without a class list, indices follow the wnid folders found.
    assert [t for _, t in ImageNetC(tmp_path).load("contrast", 1).samples] == [0, 0, 1, 1]
    with pytest.raises(FileNotFoundError, match="corruptions present"):
        ic.load("fog", 1)
    with pytest.raises(ValueError, match="not in the class list"):
        ImageNetC(tmp_path, classes=["n00000002"]).load("contrast", 1)


def test_iter_batches_mixed_sizes_need_a_transform(tmp_path):
    for wnid, size in (("n01443537", (20, 24)), ("n01484850", (30, 16))):
        (tmp_path / wnid).mkdir()
        Image.fromarray(digits_rgb(1, size)[0][0]).save(tmp_path / wnid / "a.png")
    ds = ImageNetR(tmp_path)
    with pytest.raises(ValueError, match="different sizes"):
        list(iter_batches(ds, 2))

    xs, ys = next(iter_batches(ds, 2, transform=lambda im: im[:16, :16].permute(2, 0, 1)))
    assert tuple(xs.shape) == (2, 3, 16, 16) and ys.tolist() == [0, 1]


def test_imagenet_p_reader_decodes_mp4(tmp_path):
    import cv2

    x, _ = digits_rgb(6)
    path = tmp_path / "translate" / "n00000007" / "v.mp4"
    path.parent.mkdir(parents=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (32, 32))
    if not writer.isOpened():
        pytest.skip("this OpenCV build cannot write mp4v")
    for frame in x:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    ip = ImageNetP(tmp_path, classes=["n00000003", "n00000007"])
    assert ip.perturbations == ["translate"]
    ds = ip.load("translate")
    video, target = ds[0]
    assert target == 1
    assert video.dtype == torch.uint8 and tuple(video.shape) == (6, 32, 32, 3)
    # Lossy codec, but frames must match the source in order and colour (RGB, not BGR).
    err = (video.float() - torch.from_numpy(x).float()).abs().mean(dim=(1, 2, 3))
    assert err.max() < 20
    swapped = (video.flip(-1).float() - torch.from_numpy(x).float()).abs().mean()
    assert swapped > 2 * err.mean()
    (tmp_path / "translate" / "n00000007" / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(ValueError, match="video"):
        ds2 = ip.load("translate")
        [ds2[i] for i in range(len(ds2))]


def test_imagenet_r_wnids_and_mask(tmp_path):
    assert len(IMAGENET_R_WNIDS) == len(set(IMAGENET_R_WNIDS)) == 200
    assert list(IMAGENET_R_WNIDS) == sorted(IMAGENET_R_WNIDS)
    # Regression pin of the list transcribed from hendrycks/imagenet-r eval.py.
    digest = hashlib.sha256(",".join(IMAGENET_R_WNIDS).encode()).hexdigest()
    assert digest == "98ce4fd873b9b46b5761d21549c019aa8ce0047775b0e4ff3822336b2762b476"
    fake = [f"n9{i:07d}" for i in range(800)]
    classes = sorted(fake + list(IMAGENET_R_WNIDS))
    mask = imagenet_r_mask(classes)
    assert mask.dtype == torch.long and mask.shape == (200,)
    assert [classes[i] for i in mask] == list(IMAGENET_R_WNIDS)
    assert torch.all(mask[1:] > mask[:-1])  # sorted class list -> increasing, like the bool mask
    perm = torch.randperm(1000, generator=torch.Generator().manual_seed(0))
    shuffled = [classes[i] for i in perm]
    assert [shuffled[i] for i in imagenet_r_mask(shuffled)] == list(IMAGENET_R_WNIDS)
    with pytest.raises(ValueError, match="not in the class list"):
        imagenet_r_mask(fake)


def test_imagenet_r_reader_targets_index_the_200_subset(tmp_path):
    x, _ = digits_rgb(3, size=(24, 28))
    picked = [IMAGENET_R_WNIDS[5], IMAGENET_R_WNIDS[0], IMAGENET_R_WNIDS[199]]
    for i, wnid in enumerate(picked):
        (tmp_path / wnid).mkdir()
        Image.fromarray(x[i]).save(tmp_path / wnid / f"art_{i}.png")
    ds = ImageNetR(tmp_path)
    assert [t for _, t in ds.samples] == [0, 5, 199]
    img, t = ds[1]
    np.testing.assert_array_equal(img.numpy(), x[0])
    # The target names the same class as the masked logit column.
    logits = torch.zeros(1, 1000)
    classes = sorted([f"n9{i:07d}" for i in range(800)] + list(IMAGENET_R_WNIDS))
    logits[0, classes.index(picked[0])] = 5.0
    assert logits[:, imagenet_r_mask(classes)].argmax(1).item() == ds.samples[1][1]
    (tmp_path / "n99999999").mkdir()
    (tmp_path / "n99999999" / "z.png").write_bytes(b"")
    with pytest.raises(ValueError, match="not in the class list"):
        ImageNetR(tmp_path)
