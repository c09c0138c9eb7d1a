"""Tests of the -P perturbation sequences (noisymix.perturbations).

Images are synthetic natural-ish 32x32 RGB images (smooth colour gradients, a disc and a
rectangle, mild texture), built deterministically here. Oracles are independent libraries
where they exist: scikit-image (HSV brightness, Gaussian blur), imagecorruptions (ImageMagick
motion-blur kernel), PIL with torchvision-0.2-style affine matrices (rotate, scale, shear) and
OpenCV warpPerspective (tilt).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from noisymix.perturbations import (
    EXTRA_PERTURBATIONS,
    NOISE_PERTURBATIONS,
    PERTURBATIONS,
    frame_count,
    perturb,
    perturb_arrays,
)
from noisymix.perturbations.sequences import PARAMS

ALL = PERTURBATIONS + EXTRA_PERTURBATIONS


def synthetic_images(n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    out = []
    for _ in range(n):
        a, b, c = rng.uniform(0.2, 0.8, 3)
        img = np.stack([a * xx + (1 - a) * yy, b * (1 - xx) + 0.3 * yy, c * xx * yy + 0.2], -1)
        cy, cx, r = rng.uniform(0.3, 0.7, 2).tolist() + [rng.uniform(0.1, 0.25)]
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
        img[disc] = rng.uniform(0, 1, 3)
        y0, x0 = rng.integers(0, size // 2, 2)
        img[y0:y0 + size // 4, x0:x0 + size // 3] = rng.uniform(0, 1, 3)
        img += 0.03 * rng.standard_normal(img.shape)
        out.append(np.clip(img * 255, 0, 255).astype(np.uint8))
    return np.stack(out)


IMGS = synthetic_images(3)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # Tiny tensors: intra-op threads only add overhead, and oversubscribe a shared 2-core box.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("preset", ["cifar", "imagenet"])
@pytest.mark.parametrize("name", ALL)
def test_shapes_dtype_frames(name, preset):
    y = perturb(IMGS[:2], name, preset)
    assert y.dtype == torch.uint8
    assert y.shape == (2, frame_count(name, preset), 32, 32, 3)
    # every sequence actually changes along its frames
    assert (y[:, 1:] != y[:, :1]).any()


def test_frame_counts_match_reference():
    assert frame_count("translate", "cifar") == 16
    assert frame_count("translate", "imagenet") == 41
    assert frame_count("motion_blur", "cifar") == 21
    assert frame_count("motion_blur", "imagenet") == 31
    for name in ALL:
        if name not in ("translate", "motion_blur"):
            assert frame_count(name, "cifar") == frame_count(name, "imagenet") == 31
    assert NOISE_PERTURBATIONS == ("gaussian_noise", "shot_noise", "speckle_noise")
    with pytest.raises(ValueError):
        frame_count("fog", "cifar")
    with pytest.raises(ValueError):
        perturb(IMGS, "rotate", "tiny")


@pytest.mark.parametrize("name", ALL)
def test_seed_determinism_and_batch_invariance(name):
    full = perturb(IMGS, name, seed=3)
    again = perturb(IMGS, name, seed=3)
    assert torch.equal(full, again)
    part = perturb(IMGS[1:], name, seed=3, indices=[1, 2])
    assert torch.equal(part, full[1:])
    if name in ("gaussian_noise", "shot_noise", "speckle_noise", "snow", "spatter"):
        assert not torch.equal(perturb(IMGS, name, seed=4), full)


def test_crop_size_imagenet_protocol():
    big = synthetic_images(2, size=48)
    for name in ALL:
        y = perturb(big, name, "imagenet", size=32)
        assert y.shape == (2, frame_count(name, "imagenet"), 32, 32, 3)
    # Geometric perturbations transform the full image before the centre crop: content slides
    # in from outside the crop instead of black borders.
    y = perturb(big, "translate", "imagenet", size=32).numpy()
    for i in (0, 15, 20, 25, 40):
        s = i - 20   # shift right by s pixels
        if abs(s) <= 8:
            np.testing.assert_array_equal(y[:, i], big[:, 8:40, 8 - s:40 - s])
    # Photometric ones perturb the centre crop.
    y = perturb(big, "brightness", "imagenet", size=32).numpy()
    ref = perturb(np.ascontiguousarray(big[:, 8:40, 8:40]), "brightness", "imagenet").numpy()
    np.testing.assert_array_equal(y, ref)


def test_translate_exact_shift():
    y = perturb(IMGS, "translate", "cifar").numpy()
    for i in range(16):
        s = i - 7
        exp = np.zeros_like(IMGS)
        if s >= 0:
            exp[:, :, s:] = IMGS[:, :, :32 - s]
        else:
            exp[:, :, :32 + s] = IMGS[:, :, -s:]
        np.testing.assert_array_equal(y[:, i], exp)


def test_brightness_matches_skimage_hsv_and_is_monotone():
    from skimage import color

    y = perturb(IMGS, "brightness", "cifar").numpy()
    for i in (0, 7, 15, 22, 30):
        c = (i - 15) * 1.5 / 100
        for b in range(len(IMGS)):
            hsv = color.rgb2hsv(IMGS[b] / 255.0)
            hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
            ref = np.uint8(color.hsv2rgb(hsv) * 255)
            assert np.abs(y[b, i].astype(int) - ref).max() <= 1
    # brighter along the sequence, pixel by pixel
    assert (np.diff(y.astype(int), axis=1) >= 0).all()
    assert np.array_equal(y[:, 15], IMGS)


def test_motion_blur_matches_imagemagick_kernel():
    from imagecorruptions.corruptions import _motion_blur

    y = perturb(IMGS[:2], "motion_blur", "cifar").numpy()
    for i in (0, 5, 10, 13, 20):
        for b in range(2):
            ref = _motion_blur(IMGS[b].astype(np.float64), 6, 1.8, (i - 20) * 9)
            ref = np.clip(np.round(ref), 0, 255)
            assert np.abs(y[b, i].astype(int) - ref).max() <= 1


def _tv02_inverse(size, angle=0.0, scale=1.0, shear=0.0):
    """torchvision-0.2 affine: inverse matrix for PIL, centre at (w/2 + 0.5, h/2 + 0.5)."""
    cx = cy = size * 0.5 + 0.5
    a, s = math.radians(angle), math.radians(shear)
    d = math.cos(a + s) * math.cos(a) + math.sin(a + s) * math.sin(a)
    m = [math.cos(a + s), math.sin(a + s), 0, -math.sin(a), math.cos(a), 0]
    m = [v / scale / d for v in m]
    m[2] += m[0] * -cx + m[1] * -cy + cx
    m[5] += m[3] * -cx + m[4] * -cy + cy
    return m


@pytest.mark.parametrize(
    "name,kw",
    [("rotate", lambda i: dict(angle=i - 15)),
     ("scale", lambda i: dict(scale=(2 * i + 70) / 100)),
     ("shear", lambda i: dict(shear=i - 15))],
)
def test_affine_sequences_match_pil(name, kw):
    y = perturb(IMGS, name, "cifar").numpy()
    np.testing.assert_array_equal(y[:, 15], IMGS)   # the middle frame is the identity
    for i in (0, 8, 22, 30):
        for b in range(len(IMGS)):
            ref = np.array(Image.fromarray(IMGS[b]).transform(
                (32, 32), Image.AFFINE, _tv02_inverse(32, **kw(i)), Image.BILINEAR))
            diff = np.abs(y[b, i].astype(int) - ref)
            # PIL and grid_sample treat the outermost half pixel differently; inside it agrees
            assert diff[2:-2, 2:-2].mean() < 0.6, (name, i, diff.mean())
            assert (diff > 2).mean() < 0.03


def test_tilt_matches_cv2_warp_perspective():
    import cv2

    y = perturb(IMGS, "tilt", "cifar").numpy()
    h = w = 32
    f = np.sqrt(w ** 2 + h ** 2)
    for i in (0, 10, 15, 30):
        t = np.deg2rad(0.75 * (i - 15))
        p1 = np.array([[1, 0, -w / 2], [0, 1, -h / 2], [0, 0, 1], [0, 0, 1]])
        rx = np.array([[1, 0, 0, 0], [0, np.cos(t), -np.sin(t), 0],
                       [0, np.sin(t), np.cos(t), 0], [0, 0, 0, 1]])
        ry = np.array([[np.cos(t), 0, -np.sin(t), 0], [0, 1, 0, 0],
                       [np.sin(t), 0, np.cos(t), 0], [0, 0, 0, 1]])
        tr = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, f], [0, 0, 0, 1]])
        p2 = np.array([[f, 0, w / 2, 0], [0, f, h / 2, 0], [0, 0, 1, 0]])
        mat = p2 @ tr @ rx @ ry @ p1
        for b in range(len(IMGS)):
            ref = cv2.warpPerspective(IMGS[b], mat, (w, h))
            diff = np.abs(y[b, i].astype(int) - ref)
            assert diff.max() <= 2 and diff.mean() < 0.3, (i, diff.max(), diff.mean())


def test_gaussian_blur_matches_skimage():
    from skimage.filters import gaussian

    y = perturb(IMGS, "gaussian_blur", "cifar").numpy()
    for i in (0, 15, 30):
        for b in range(len(IMGS)):
            ref = np.uint8(255 * gaussian(IMGS[b] / 255.0, sigma=0.3 + 0.015 * i,
                                          channel_axis=-1, truncate=7.0))
            assert np.abs(y[b, i].astype(int) - ref).max() <= 1


def test_zoom_blur_is_running_mean_of_zooms():
    y = perturb(IMGS[:1], "zoom_blur", "cifar").numpy()[0]
    np.testing.assert_array_equal(y[0], IMGS[0])
    acc = IMGS[0] / 255.0
    for i in range(1, 31):
        z = np.array(Image.fromarray(IMGS[0]).transform(
            (32, 32), Image.AFFINE, _tv02_inverse(32, scale=1 + 0.004 * i), Image.BILINEAR))
        acc = acc + z / 255.0
        if i in (1, 10, 30):
            ref = np.uint8(acc / (i + 1) * 255)
            diff = np.abs(y[i].astype(int) - ref)
            assert diff[1:-1, 1:-1].max() <= 2 and diff.mean() < 0.5


def test_noise_sequence_statistics():
    gray = np.full((4, 32, 32, 3), 128, np.uint8)
    for name, spread in [("gaussian_noise", 0.02 * 255),
                         ("shot_noise", 255 * math.sqrt(128 / 255 / 700)),
                         ("speckle_noise", 0.05 * 128)]:
        y = perturb(gray, name, "cifar").numpy().astype(float)
        np.testing.assert_array_equal(y[:, 0], gray)         # frame 0 is the clean image
        d = y[:, 1:] - 128
        # truncation to uint8 lowers the mean by about half a level
        assert abs(d.mean() + 0.5) < 0.15, (name, d.mean())
        assert abs(d.std() / spread - 1) < 0.05, (name, d.std(), spread)
        # frames are independent draws: consecutive noise fields are uncorrelated
        r = np.corrcoef(d[:, :-1].ravel(), d[:, 1:].ravel())[0, 1]
        assert abs(r) < 0.02, (name, r)
    # ImageNet preset uses the stronger Gaussian noise (σ = 0.03)
    y = perturb(gray, "gaussian_noise", "imagenet").numpy().astype(float)
    assert abs((y[:, 1:] - 128).std() / (0.03 * 255) - 1) < 0.05


def test_snow_and_spatter_behaviour():
    y = perturb(IMGS, "snow", "cifar").numpy().astype(float)
    # snow whitens: every frame is at least as bright as the (whitened) scene, on average more
    assert (y.mean((2, 3, 4)) > IMGS.astype(float).mean((1, 2, 3))[:, None]).all()
    # the snow layer moves: most consecutive frames differ (a 4° turn can leave the integer
    # kernel offsets unchanged, so not all do)
    assert (np.abs(np.diff(y, axis=1)).mean((2, 3, 4)) > 0).mean() > 0.7
    s = perturb(IMGS, "spatter", "cifar").numpy().astype(int)
    assert (s >= IMGS[:, None]).all()   # water only adds light
    assert PARAMS["imagenet"]["spatter"]["drift"] == (0.05, 0.1, 0.15, 0.7)


def test_writer_layout_and_resume(tmp_path):
    imgs = synthetic_images(5)
    labels = np.arange(5) % 3
    names = ("translate", "gaussian_noise")
    paths = perturb_arrays(imgs, tmp_path, "cifar", perturbations=names, seed=1,
                           batch_size=2, labels=labels, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "gaussian_noise.npy", "labels.npy", "manifest.json", "translate.npy"]
    np.testing.assert_array_equal(np.load(paths["labels"]), labels)
    arr = np.load(paths["gaussian_noise"])
    assert arr.dtype == np.uint8 and arr.shape == (5, 31, 32, 32, 3)
    # batch size does not change the output
    np.testing.assert_array_equal(arr, perturb(imgs, "gaussian_noise", seed=1).numpy())
    # resume: a complete file is kept as is, a wrong-shaped one is regenerated
    np.save(paths["translate"], np.zeros((5, 16, 32, 32, 3), np.uint8))
    np.save(paths["gaussian_noise"], np.zeros((4, 31, 32, 32, 3), np.uint8))
    perturb_arrays(imgs, tmp_path, "cifar", perturbations=names, seed=1, batch_size=3,
                   labels=labels, progress=False)  # the same settings (labels too): resumes
    assert not np.load(paths["translate"]).any()
    np.testing.assert_array_equal(np.load(paths["gaussian_noise"]), arr)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
