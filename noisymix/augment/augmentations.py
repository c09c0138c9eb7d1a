"""Batched AugMix on tensors, bit-compatible with the PIL reference ops.

AugMix: Hendrycks et al., "AugMix: A Simple Data Processing Method to Improve Robustness and
Uncertainty", arXiv:1912.02781. Reference: google-research/augmix (``augmentations.py`` for
the ops and their level → parameter maps, ``cifar.py::aug`` for the mixing), used unchanged by
erichson/NoisyMix (arXiv:2202.01263).

The reference runs one PIL image at a time on the CPU. Here a whole batch (B, 3, H, W) is
augmented at once on any device: every (chain, step) draws an op per image. On the CPU each op
runs once per step on the chains that chose it (``_chains_grouped``: least arithmetic); on a
GPU every chain goes through one look-up-table, one affine and one blend stage per step, with
exact identities where its op is of another kind (``_chains_fused``: a fixed number of kernels
and no host sync). The ops reproduce PIL's integer arithmetic (uint8 images, truncating
bilinear sampling, the ImageOps look-up tables, ``Image.blend``), so ``apply_op`` matches PIL
pixel for pixel up to float rounding at exact integer boundaries, and both engines give the
same chains bit for bit; see ``tests/test_augmix.py``.

Internally, op images hold integer values 0..255 in float32 ("u8 scale"), as PIL images hold
uint8; they are divided by 255 only when chains are mixed.
"""

from __future__ import annotations

import torch

from noisymix.rng import Streams

# The reference's default op list (augmentations.augmentations) and the full list
# (augmentations_all); the last four overlap the -C test corruptions, hence off by default.
OPS: tuple[str, ...] = (
    "autocontrast",
    "equalize",
    "posterize",
    "rotate",
    "solarize",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
)
ALL_OPS: tuple[str, ...] = OPS + ("color", "contrast", "brightness", "sharpness")

_SIGNED = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")


# ----------------------------------------------------------------------------------------------
# level → concrete parameter (augmentations.py: int_parameter / float_parameter)
# ----------------------------------------------------------------------------------------------


def _magnitude_map(op: str, image_size: tuple[int, int]) -> tuple[float, float, float, bool]:
    """(scale, base, sign, truncate) of ``op``: magnitude = base + sign·g(level·scale / 10),
    g = int() (truncation) where the reference uses int_parameter, else the identity."""
    if op == "rotate":
        return 30.0, 0.0, 1.0, True  # integer degrees
    if op in ("shear_x", "shear_y"):
        return 0.3, 0.0, 1.0, False
    if op in ("translate_x", "translate_y"):
        # not in paper: the reference uses one IMAGE_SIZE constant for both axes; we use the
        # width for x and the height for y (identical for the square images it supports).
        side = image_size[1] if op == "translate_x" else image_size[0]
        return side / 3, 0.0, 1.0, True  # pixels
    if op == "posterize":
        return 4.0, 4.0, -1.0, True  # bits kept: 4 − int(level·4/10)
    if op == "solarize":
        return 256.0, 256.0, -1.0, True  # threshold: 256 − int(level·256/10)
    if op in ("color", "contrast", "brightness", "sharpness"):
        return 1.8, 0.1, 1.0, False  # enhance factor: level·1.8/10 + 0.1
    if op in ("autocontrast", "equalize"):
        return 0.0, 0.0, 0.0, False  # no parameter
    raise ValueError(f"unknown op {op!r}; expected one of {ALL_OPS}")


def _level_map(
    level: torch.Tensor, negate: torch.Tensor, scale, base, sign, truncate, signed
) -> torch.Tensor:
    """The reference's level → parameter arithmetic in float64 (its Python floats), on
    constants that are Python numbers (one op) or tensors gathered per application. 4 − t is
    computed as 4 + (−1)·t and t + 0.1 as 0.1 + t, which IEEE arithmetic rounds identically."""
    level = level.double()
    t = level * scale
    # a tensor divisor: CUDA divides by a Python scalar as a product with its reciprocal,
    # which is not the reference's correctly rounded quotient
    t = t / torch.full_like(t, 10.0)
    t = torch.where(truncate, torch.trunc(t), t) if torch.is_tensor(truncate) else (
        torch.trunc(t) if truncate else t)
    mag = base + sign * t
    return torch.where(negate & signed, -mag, mag)


def level_to_magnitude(
    op: str, level: torch.Tensor, negate: torch.Tensor, image_size: tuple[int, int]
) -> torch.Tensor:
    """Map reference levels (B,) in [0.1, severity] to ``apply_op`` magnitudes (B,) float64.

    ``negate`` (B,) bool flips the sign of the geometric ops (the reference's coin flip).
    ``image_size`` is (H, W); translations are in pixels, a third of the side at level 10.
    """
    scale, base, sign, truncate = _magnitude_map(op, image_size)
    return _level_map(level, negate, scale, base, sign, truncate, op in _SIGNED)


_MAP_CACHE: dict[tuple, tuple[torch.Tensor, ...]] = {}


def _magnitudes(
    ops: tuple[str, ...], choice: torch.Tensor, level: torch.Tensor, negate: torch.Tensor,
    image_size: tuple[int, int],
) -> torch.Tensor:
    """``level_to_magnitude`` of every application at once: choice, level, negate (D, n) →
    magnitudes (D, n) float64, each by the map of its op ``ops[choice]``."""
    key = (ops, tuple(image_size), choice.device)
    if key not in _MAP_CACHE:  # built once per device: a host→device copy waits for the GPU
        maps = [_magnitude_map(op, image_size) for op in ops]
        cols = [torch.tensor(col, dtype=torch.float64) for col in list(zip(*maps))[:3]]
        flags = [torch.tensor([m[3] for m in maps]), torch.tensor([op in _SIGNED for op in ops])]
        _MAP_CACHE[key] = tuple(t.to(choice.device) for t in cols + flags)
    scale, base, sign, truncate, signed = (t[choice] for t in _MAP_CACHE[key])
    return _level_map(level, negate, scale, base, sign, truncate, signed)


# ----------------------------------------------------------------------------------------------
# ops on u8-scale images (N, C, H, W), values integers in [0, 255]
# ----------------------------------------------------------------------------------------------


_CONSTS: dict[tuple, dict[str, torch.Tensor]] = {}


def _consts(h: int, w: int, device: torch.device, index_dtype: torch.dtype) -> dict:
    """Per (size, device) constants of ``_affine_sample``, built once (on a GPU, a host →
    device copy waits for the queue)."""
    key = (h, w, str(device), index_dtype)
    if key not in _CONSTS:
        f64 = dict(dtype=torch.float64, device=device)
        idx = dict(dtype=index_dtype, device=device)
        s = w + 2  # row stride of the edge-padded image
        _CONSTS[key] = dict(
            xs=(torch.arange(w, **f64) + 0.5).view(1, 1, 1, w),  # output pixel centres
            ys=(torch.arange(h, **f64) + 0.5).view(1, 1, h, 1),
            taps_xy=torch.tensor([0, 1, s, s + 1], **idx).view(4, 1, 1, 1, 1),
            taps_x=torch.tensor([0, 1], **idx).view(2, 1, 1, 1, 1),
            taps_y=torch.tensor([0, s], **idx).view(2, 1, 1, 1, 1),
            identity=torch.tensor([[[1.0, 0, 0], [0, 1, 0]]], **f64),
        )
        k = _CONSTS[key]  # sampling at the pixel centres of an axis: all inside, weight 0
        k["x_axis"] = _neighbours(k["xs"], w, index_dtype)
        k["y_axis"] = _neighbours(k["ys"], h, index_dtype)
    return _CONSTS[key]


def _neighbours(coord: torch.Tensor, size: int, idt: torch.dtype):
    """PIL's bilinear sampling along one axis at input coordinates ``coord`` (float64): whether
    the point lies in [0, size), the first neighbour floor(coord − ½) clamped to [−1, size − 1]
    (index dtype ``idt``), and the weight (coord − ½) − floor(coord − ½) of the second."""
    inside = (coord >= 0) & (coord < size)
    t = coord - 0.5
    lo = torch.floor(t)
    return inside, lo.clamp_(-1, size - 1).to(idt), t.sub_(lo)


def _affine_sample(
    q: torch.Tensor, xin: torch.Tensor, yin: torch.Tensor, blend_x: bool = True,
    blend_y: bool = True,
) -> torch.Tensor:
    """PIL's BILINEAR filter of ``Image.transform`` at input points (xin, yin), batched.

    q: u8-scale (N, C, H, W); xin, yin: float64 input coordinates of the output pixel centres
    (pixel units, origin at the top-left corner), broadcastable to (N, 1, H, W). As PIL: the
    fill colour (0) where the point lies outside [0, W)×[0, H); else neighbours at
    floor(coordinate − ½) and +1, clamped at the edges, v1 = p00 + (p01 − p00)·dx,
    v2 = p10 + (p11 − p10)·dx, v = v1 + (v2 − v1)·dy in float64, truncated.

    ``blend_x=False`` (``blend_y=False``) asserts that dx (dy) is exactly 0 everywhere, as it
    is along the axis a shear or translation leaves alone; PIL's blend with weight 0 returns
    its first operand unchanged, so those taps are skipped. On the CPU the weights are also
    checked, which finds integer translations (one tap: a shifted copy); elsewhere that check
    would be a host sync.
    """
    # Gathers rather than ``grid_sample``: grid_sample blends with the zero padding near the
    # edges, and its float32 arithmetic flips pixels by one level wherever PIL's float64 value
    # lands on an integer before truncation. The image is padded by one edge pixel: clamping
    # the first neighbour to [−1, last] and reading the padded image at +1 is PIL's clamping of
    # both neighbours to [0, last], the neighbours sit at fixed offsets, and all taps are one
    # index_select (int32 indices, which it takes and which are cheaper to build).
    n, c, h, w = q.shape
    if q.numel() == 0:
        return q.clone()
    plane = (h + 2) * (w + 2)
    idt = torch.int32 if n * c * plane < 2**31 else torch.int64
    k = _consts(h, w, q.device, idt)
    in_x, xi, dx = k["x_axis"] if xin is k["xs"] else _neighbours(xin, w, idt)
    in_y, yi, dy = k["y_axis"] if yin is k["ys"] else _neighbours(yin, h, idt)
    inside = in_y if xin is k["xs"] else in_x if yin is k["ys"] else in_x & in_y
    if q.device.type == "cpu":
        blend_x = blend_x and bool(dx.any())
        blend_y = blend_y and bool(dy.any())
    offsets = torch.arange(w + 3, n * c * plane, plane, device=q.device, dtype=idt)
    idx = torch.add(xi, yi, alpha=w + 2) + offsets.view(n, c, 1, 1)  # (N, C, H, W): p00
    src = torch.nn.functional.pad(q, (1, 1, 1, 1), mode="replicate")
    if not blend_x and not blend_y:  # one tap: the sample is a pixel value, no rounding
        return src.reshape(-1).index_select(0, idx.view(-1)).view(n, c, h, w).mul_(inside)
    taps = k["taps_xy" if blend_x and blend_y else "taps_x" if blend_x else "taps_y"]
    p = src.double().reshape(-1).index_select(0, (idx + taps).view(-1))
    p = p.view(-1, 2, n, c, h, w)  # (rows, (first, second) tap, N, C, H, W)
    # PIL's BILINEAR(a, b, t) = a + (b − a)·t in float64, in place on b
    v = p[:, 1].sub_(p[:, 0]).mul_(dx if blend_x else dy).add_(p[:, 0])
    if blend_x and blend_y:
        v = v[1].sub_(v[0]).mul_(dy).add_(v[0])
    else:
        v = v[0]
    # v ≥ 0 (a convex combination of values ≥ 0, rounded monotonically): floor = trunc
    return v.floor_().mul_(inside).to(q.dtype)


def _affine_coords(coeffs: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """PIL ``Image.transform(size, AFFINE, (a, b, c, d, e, f))``'s sample points: coeffs
    (N, 2, 3) float64, rows (a, b, c) and (d, e, f) → x_in = a·(x+½) + b·(y+½) + c,
    y_in = d·(x+½) + e·(y+½) + f, each (N, 1, H, W), in that float64 order."""
    k = _consts(h, w, coeffs.device, torch.int32)
    cf = coeffs.view(-1, 2, 3, 1, 1)
    xy = cf[:, :, 0] * k["xs"] + cf[:, :, 1] * k["ys"] + cf[:, :, 2]  # (N, 2, H, W)
    return xy[:, 0:1], xy[:, 1:2]


def _rotate_coeffs(degrees: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """PIL ``Image.rotate(deg)`` (counter-clockwise, about (W/2, H/2), no expand) as affine
    coefficients (N, 2, 3) float64, following Image.rotate's construction of its inverse
    matrix."""
    ang = -torch.deg2rad(degrees.double())
    cos = torch.round(torch.cos(ang), decimals=15)  # PIL rounds to 15 decimals
    sin = torch.round(torch.sin(ang), decimals=15)
    cx, cy = w / 2, h / 2
    a, b, d, e = cos, sin, -sin, cos
    c = a * -cx + b * -cy + cx
    f = d * -cx + e * -cy + cy
    return torch.stack([a, b, c, d, e, f], dim=1).view(-1, 2, 3)


# the reference's geometric ops as (row, column) of the affine coefficient that carries the
# magnitude, the rest being the identity; the axis each one leaves alone needs no blend
_AFFINE_SLOT = {"shear_x": (0, 1), "shear_y": (1, 0), "translate_x": (0, 2),
                "translate_y": (1, 2)}


def _geometric(q: torch.Tensor, op: str, mag: torch.Tensor) -> torch.Tensor:
    """rotate (degrees, counter-clockwise), shear_x (1, s, 0, 0, 1, 0), shear_y
    (1, 0, 0, s, 1, 0), translate_x (1, 0, t, 0, 1, 0) (positive t moves content left, as in
    PIL), translate_y (1, 0, 0, 0, 1, t)."""
    n, _, h, w = q.shape
    if op == "rotate":
        return _affine_sample(q, *_affine_coords(_rotate_coeffs(mag, h, w), h, w))
    # the other ops' terms with coefficient 0 or 1 are exact: their coordinates are computed
    # on (N, 1, H, 1) / (N, 1, 1, W) and broadcast
    k = _consts(h, w, q.device, torch.int32)
    xs, ys, m = k["xs"], k["ys"], mag.double().view(n, 1, 1, 1)
    if op == "shear_x":
        return _affine_sample(q, xs + m * ys, ys, blend_y=False)
    if op == "shear_y":
        return _affine_sample(q, xs, m * xs + ys, blend_x=False)
    if op == "translate_x":
        return _affine_sample(q, xs + m, ys, blend_y=False)
    return _affine_sample(q, xs, ys + m, blend_x=False)  # translate_y


def _histograms(q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image, per-channel 256-bin histograms (N, C, 256) int64, and every pixel's bin in
    the flattened histograms (N·C·H·W,), which ``_apply_lut`` reuses as its index."""
    n, c = q.shape[:2]
    nbins = n * c * 256
    dtype = torch.int32 if nbins < 2**31 else torch.int64  # float → int32 is the fast cast
    offsets = torch.arange(0, nbins, 256, device=q.device, dtype=dtype).view(n, c, 1)
    bins = (q.reshape(n, c, q.shape[2] * q.shape[3]).to(dtype) + offsets).reshape(-1)
    if q.device.type == "cpu":
        hist = torch.bincount(bins, minlength=nbins)
    else:  # bincount on CUDA reads the largest bin back to the host; integer adds commute
        hist = torch.zeros(nbins, device=q.device, dtype=torch.int32)
        hist.index_add_(0, bins, torch.ones_like(bins, dtype=torch.int32))
    return hist.view(n, c, 256).long(), bins


def _apply_lut(q: torch.Tensor, lut: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Per-image per-channel look-up: lut (N, C, 256) integer-valued, bins from
    ``_histograms(q)`` → same shape and dtype as q."""
    return lut.to(q.dtype).reshape(-1).index_select(0, bins).view(q.shape)


def _last_bin(present: torch.Tensor) -> torch.Tensor:
    """Index of the last occupied bin (N, C, 1) of non-empty histograms (present (N, C, 256))."""
    ix = torch.arange(256, device=present.device).view(1, 1, 256)
    return torch.where(present, ix, 0).amax(dim=2, keepdim=True)


def _autocontrast_lut(hist: torch.Tensor) -> torch.Tensor:
    """ImageOps.autocontrast (cutoff 0) as a look-up table (N, C, 256) float64 from the
    histograms: per channel, map [lo, hi] linearly onto [0, 255]."""
    present = hist > 0
    lo = present.int().argmax(dim=2, keepdim=True)  # first occupied bin
    hi = _last_bin(present)
    ix = torch.arange(256, device=hist.device, dtype=torch.float64).view(1, 1, 256)
    span = (hi - lo).clamp_min(1).double()
    # tensor / tensor: torch evaluates ``scalar / tensor`` as scalar · (1 / tensor), which is
    # not correctly rounded and flips int() at exact integers (e.g. 33·255/55 = 153).
    scale = torch.full_like(span, 255.0) / span
    offset = -lo.double() * scale
    lut = torch.trunc(ix * scale + offset).clamp(0, 255)  # PIL: int(ix·scale + offset)
    return torch.where(hi > lo, lut, ix)  # flat channel: identity


def _equalize_lut(hist: torch.Tensor) -> torch.Tensor:
    """ImageOps.equalize as a look-up table (N, C, 256) int64 from the histograms: per
    channel, lut[i] = (step//2 + Σ_{j<i} h[j]) // step with step = (Σh − h[last occupied
    bin]) // 255; identity if ≤ 1 bin is occupied or step = 0."""
    present = hist > 0
    last = _last_bin(present)
    step = (hist.sum(2, keepdim=True) - hist.gather(2, last)) // 255
    cum_before = hist.cumsum(2) - hist  # exclusive cumulative sum
    lut = (step // 2 + cum_before) // step.clamp_min(1)
    lut = lut.clamp_max(255)  # PIL clips lut entries to uint8 when applying them
    ident = torch.arange(256, device=hist.device).view(1, 1, 256)
    ok = (present.sum(2, keepdim=True) > 1) & (step > 0)
    return torch.where(ok, lut, ident)


def _autocontrast(q: torch.Tensor) -> torch.Tensor:
    hist, bins = _histograms(q)
    return _apply_lut(q, _autocontrast_lut(hist), bins)


def _equalize(q: torch.Tensor) -> torch.Tensor:
    hist, bins = _histograms(q)
    return _apply_lut(q, _equalize_lut(hist), bins)


def _blend(degenerate: torch.Tensor, q: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL Image.blend(degenerate, image, factor): float32 arithmetic, clip, truncate."""
    f = factor.float().view(-1, 1, 1, 1)
    # PIL: in1 + alpha·(in2 − in1) in float; the difference of integers is exact in float32
    v = (q.float() - degenerate.float()).mul_(f).add_(degenerate)
    return v.clamp_(0, 255).floor_().to(q.dtype)  # ≥ 0 after the clip: floor = trunc


def _grayscale(q: torch.Tensor) -> torch.Tensor:
    """PIL RGB→L: (19595·R + 38470·G + 7471·B + 2¹⁵) >> 16, shape (N, 1, H, W). Every partial
    sum is an integer below 2²⁴, so float32 holds it exactly, and / 2¹⁶ is exact."""
    qf = q.float()
    lum = qf[:, 0:1] * 19595 + qf[:, 1:2] * 38470
    lum.add_(qf[:, 2:3], alpha=7471).add_(0x8000)
    return lum.mul_(2.0**-16).floor_().to(q.dtype)


def _smooth(q: torch.Tensor) -> torch.Tensor:
    """ImageFilter.SMOOTH: 3×3 kernel [[1,1,1],[1,5,1],[1,1,1]]/13, rounded; PIL copies the
    one-pixel border unfiltered.

    Computed as round(s / 13) of the integer s = (3×3 box sum) + 4·centre, exact in float32
    (s ≤ 13·255): s / 13 is never within 1/26 of a rounding boundary, so the float error of
    (s + 6.5) / 13 never moves its floor.
    """
    qf = q.float()
    rows = qf[:, :, :-2] + qf[:, :, 1:-1] + qf[:, :, 2:]  # vertical 3-sums (N, C, H−2, W)
    s = rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]  # box sums (N, C, H−2, W−2)
    s.add_(qf[:, :, 1:-1, 1:-1], alpha=4)
    out = q.clone()
    out[:, :, 1:-1, 1:-1] = s.add_(6.5).div_(13).floor_()
    return out


def _posterize_unit(bits: torch.Tensor) -> torch.Tensor:
    """ImageOps.posterize keeps the top ``bits`` bits, i & ~(2^(8−bits) − 1) = ⌊i/u⌋·u with
    u = 2^(8−bits). not in paper: bits = 0 (severity > 7.5 only) gives black instead of PIL's
    ValueError."""
    return torch.exp2(8 - bits.round().clamp(0, 8))


def _contrast_grey(gray: torch.Tensor) -> torch.Tensor:
    """ImageEnhance.Contrast's degenerate: flat grey at the rounded mean of the L image
    (N, 1, H, W) → (N, 1, 1, 1) float64."""
    return torch.floor(gray.double().mean(dim=(1, 2, 3), keepdim=True) + 0.5)


def _apply_u8(q: torch.Tensor, op: str, mag: torch.Tensor) -> torch.Tensor:
    """Apply ``op`` to u8-scale images q (N, C, H, W) with per-image magnitudes mag (N,)."""
    if op == "autocontrast":
        return _autocontrast(q)
    if op == "equalize":
        return _equalize(q)
    if op == "posterize":
        unit = _posterize_unit(mag).view(-1, 1, 1, 1).to(q.dtype)
        return torch.floor(q / unit) * unit
    if op == "solarize":
        thr = mag.view(-1, 1, 1, 1).to(q.dtype)
        inv = 255 - q
        return torch.where(q < thr, q, inv, out=inv)
    if op in ("rotate", "shear_x", "shear_y", "translate_x", "translate_y"):
        return _geometric(q, op, mag)
    if op == "color":
        return _blend(_grayscale(q).expand_as(q), q, mag)
    if op == "contrast":
        return _blend(_contrast_grey(_grayscale(q)).expand_as(q), q, mag)
    if op == "brightness":
        return _blend(torch.zeros_like(q), q, mag)
    if op == "sharpness":
        return _blend(_smooth(q), q, mag)
    raise ValueError(f"unknown op {op!r}; expected one of {ALL_OPS}")


def _quantise(x: torch.Tensor) -> torch.Tensor:
    """Float image in [0, 1] → u8 scale, as ToPILImage would (round, not truncate); contiguous
    (N, C, H, W), whatever the memory format of x."""
    return x.float().contiguous().clamp(0, 1).mul_(255).round_()


def apply_op(x: torch.Tensor, op: str, magnitude: torch.Tensor | float | None = None) -> torch.Tensor:
    """Apply one AugMix op with explicit per-image parameters.

    x: float (B, 3, H, W) in [0, 1], quantised to uint8 levels first, as PIL ops see uint8.
    magnitude: (B,) or scalar — degrees (rotate, counter-clockwise), shear factor, pixels
    (translate; positive moves content left/up, as PIL's affine offset does), bits kept
    (posterize), threshold in 0..256 (solarize), enhance factor (color, contrast,
    brightness, sharpness); ignored for autocontrast and equalize.
    Magnitudes are used in float64, as PIL's Python floats are; pass float64 to match PIL
    bit for bit (a float32 0.3 is a slightly different shear).
    Returns float (B, 3, H, W) in [0, 1], multiples of 1/255.
    """
    b = x.shape[0]
    if magnitude is None:
        magnitude = 0.0
    mag = torch.as_tensor(magnitude, device=x.device).double().expand(b)
    return _apply_u8(_quantise(x), op, mag) / 255


# ----------------------------------------------------------------------------------------------
# AugMix
# ----------------------------------------------------------------------------------------------


def _chains_grouped(
    qx: torch.Tensor, ops: tuple[str, ...], key: torch.Tensor, mags: torch.Tensor
) -> torch.Tensor:
    """The chains (n, C, H, W), chain-major (chain j·B + b starts as image b of qx), after
    their ops: key (D, n) the op index of each application (len(ops): past the chain's
    depth), mags (D, n) its magnitude.

    At each step the chains are reordered so that those choosing the same op are contiguous
    (inactive ones last): every op runs once, through ``_apply_u8``, on a slice, doing only its
    own work; the group sizes of all steps come to the host in one transfer.
    """
    bsz = qx.shape[0]
    n_ops, (max_depth, n) = len(ops), key.shape
    dev = key.device
    order = torch.argsort(key, dim=1, stable=True)  # (D, n): chain ids, grouped by op
    counts = (key.unsqueeze(2) == torch.arange(n_ops + 1, device=dev)).sum(1).tolist()
    q, pos = None, None  # q[i] holds chain perm[i]; pos[chain] = its row in q
    for step in range(max_depth):
        perm = order[step]
        q = qx.index_select(0, perm % bsz) if q is None else q.index_select(0, pos[perm])
        pos = torch.empty_like(perm).scatter_(0, perm, torch.arange(n, device=dev))
        mag = mags[step].index_select(0, perm)
        start = 0
        for k, op in enumerate(ops):
            cnt = counts[step][k]
            if cnt:
                rows = slice(start, start + cnt)
                q[rows] = _apply_u8(q[rows], op, mag[rows])
                start += cnt
    if q is None:
        return qx.repeat(n // max(bsz, 1), 1, 1, 1)
    return q.index_select(0, pos)  # back to chain-major order


_LUT_OPS = ("autocontrast", "equalize", "posterize", "solarize")
_ENHANCE_OPS = ("color", "contrast", "brightness", "sharpness")


def _chains_fused(
    qx: torch.Tensor, ops: tuple[str, ...], key: torch.Tensor, mags: torch.Tensor
) -> torch.Tensor:
    """``_chains_grouped``'s result, computed with a fixed number of tensor ops per step and no
    host sync, for GPUs (where kernel launches, not arithmetic, set the time).

    Every op is a per-channel look-up table (autocontrast, equalize, posterize, solarize), an
    affine resampling (rotate, shears, translations) or a blend with a degenerate image (the
    enhance ops). At each step every chain goes through one stage of each kind, with its own
    op's parameters in the stage of its kind and exact identities in the others: the identity
    table; the identity affine map, whose sample points are the pixel centres, where PIL's
    blends with weight 0 return the pixel unchanged; a blend with factor 1, which returns the
    image (its float32 difference of integers is exact). ``_apply_u8`` is not called.
    """
    bsz, c, h, w = qx.shape
    n_ops, (max_depth, n) = len(ops), key.shape
    dev = key.device
    is_op = {op: key == k for k, op in enumerate(ops)}  # (D, n) each
    none = torch.zeros_like(key, dtype=torch.bool)
    lut_ops = [op for op in _LUT_OPS if op in ops]
    geo_ops = [op for op in _SIGNED if op in ops]
    enh_ops = [op for op in _ENHANCE_OPS if op in ops]
    if lut_ops:  # tables that depend on the magnitude only, for all steps at once
        ix = torch.arange(256, device=dev, dtype=torch.float64)
        unit = _posterize_unit(mags).unsqueeze(-1)
        post = torch.floor(ix / unit) * unit  # (D, n, 256)
        thr = mags.unsqueeze(-1)
        sol = torch.where(ix < thr, ix, 255 - ix)
        fixed = torch.where(is_op.get("posterize", none).unsqueeze(-1), post,
                            torch.where(is_op.get("solarize", none).unsqueeze(-1), sol, ix))
    if geo_ops:  # affine coefficients (D, n, 2, 3): the identity plus the op's magnitude
        cache_key = ("slots", ops, dev)
        if cache_key not in _MAP_CACHE:  # 1 at the coefficient each op sets, per op index
            slots = torch.zeros((n_ops + 1, 2, 3), dtype=torch.float64)
            for op, (row, col) in _AFFINE_SLOT.items():
                if op in ops:
                    slots[ops.index(op), row, col] = 1.0
            _MAP_CACHE[cache_key] = (slots.to(dev),)
        slots = _MAP_CACHE[cache_key][0]
        identity = _consts(h, w, dev, torch.int32)["identity"]
        # identity + 1·t at the op's slot, + 0·t elsewhere: exact
        coeffs = identity + slots[key] * mags.view(max_depth, n, 1, 1)
        if "rotate" in ops:
            rot = _rotate_coeffs(mags.reshape(-1), h, w).view(max_depth, n, 2, 3)
            coeffs = torch.where(is_op["rotate"].view(max_depth, n, 1, 1), rot, coeffs)
    if enh_ops:
        is_enh = torch.stack([is_op[op] for op in enh_ops]).any(0)
        factor = torch.where(is_enh, mags, torch.ones_like(mags))

    q = qx.repeat(n // max(bsz, 1), 1, 1, 1)
    for s in range(max_depth):
        if lut_ops:
            hist, bins = _histograms(q)
            lut = fixed[s].unsqueeze(1)  # (n, 1, 256): posterize, solarize, identity
            if "equalize" in ops:
                lut = torch.where(is_op["equalize"][s].view(n, 1, 1), _equalize_lut(hist), lut)
            if "autocontrast" in ops:
                lut = torch.where(is_op["autocontrast"][s].view(n, 1, 1),
                                  _autocontrast_lut(hist), lut)
            q = _apply_lut(q, lut.expand(n, c, 256), bins)
        if geo_ops:
            q = _affine_sample(q, *_affine_coords(coeffs[s], h, w))
        if enh_ops:
            deg = torch.zeros_like(q)
            if "sharpness" in ops:
                deg = torch.where(is_op["sharpness"][s].view(n, 1, 1, 1), _smooth(q), deg)
            if "color" in ops or "contrast" in ops:
                gray = _grayscale(q)
                if "contrast" in ops:
                    deg = torch.where(is_op["contrast"][s].view(n, 1, 1, 1),
                                      _contrast_grey(gray).to(q.dtype), deg)
                if "color" in ops:
                    deg = torch.where(is_op["color"][s].view(n, 1, 1, 1), gray, deg)
            q = _blend(deg, q, factor[s])
    return q


def sample_plan(
    rng: Streams,
    severity: float = 3,
    width: int = 3,
    depth: int = -1,
    alpha: float = 1.0,
    n_ops: int = len(OPS),
) -> dict[str, torch.Tensor]:
    """All random draws of one ``augmix`` call, one stream per image, on the streams' device.

    Chains are indexed chain-major, n = width·B (chain j of image b is row j·B + b).
    depths (n,) int in 1..3 (or ``depth``); choice (D, n) op indices; level (D, n) float64
    ~ U(0.1, severity), one per application; negate (D, n) bool sign coins; ws (B, width)
    ~ Dirichlet(α); m (B,) ~ Beta(α, α). D = 3 (or ``depth``); rows of choice/level/negate
    beyond an image's depth are drawn but unused. Image b's draws depend on its stream alone.
    """
    bsz = len(rng)
    n = width * bsz
    max_depth = depth if depth > 0 else 3

    def chain_major(t: torch.Tensor) -> torch.Tensor:  # (B, D, width) → (D, width·B)
        return t.permute(1, 2, 0).reshape(t.shape[1], n)

    # one draw of uniforms for every discrete choice: (B, 1 + 3·D, width), split below
    u = rng.rand((1 + 3 * max_depth, width), torch.float64)
    if depth > 0:
        depths = torch.full((n,), depth, device=rng.device)
    else:
        depths = chain_major(1 + torch.floor(u[:, :1] * 3).long())[0]
    choice = chain_major(torch.floor(u[:, 1:1 + max_depth] * n_ops).long())
    # a fresh level per application, as the reference draws it (timm once fixed the level at
    # the maximum, which AugMix does not do)
    level = 0.1 + (severity - 0.1) * chain_major(u[:, 1 + max_depth:1 + 2 * max_depth])
    negate = chain_major(u[:, 1 + 2 * max_depth:]) > 0.5
    ws = rng.dirichlet(alpha, width)
    m = rng.beta(alpha, alpha)
    return dict(depths=depths, choice=choice, level=level, negate=negate, ws=ws, m=m)


def augmix(
    x: torch.Tensor,
    rng: Streams | torch.Generator,
    severity: float = 3,
    width: int = 3,
    depth: int = -1,
    alpha: float = 1.0,
    all_ops: bool = False,
) -> torch.Tensor:
    """AugMix views of a batch: (1 − m)·x + m·Σᵢ wᵢ·chainᵢ(x).

    x: float (B, 3, H, W) in [0, 1] on the generator's device. Per image: w ~ Dirichlet(α·1)
    over the ``width`` chains, m ~ Beta(α, α); each chain applies ``depth`` ops (−1: uniform
    in {1, 2, 3} per image and chain), each op uniform from OPS (ALL_OPS if ``all_ops``), each
    application with its own level ~ U(0.1, severity) and sign coin. Returns float (B, 3, H, W)
    in [0, 1]. All randomness comes from ``rng``: per-image streams (batch-invariant), or a
    generator from which one call draws the keys of the batch's streams (see ``sample_plan``).
    """
    ops = ALL_OPS if all_ops else OPS
    bsz, _, h, w = x.shape
    if isinstance(rng, torch.Generator):
        rng = Streams.from_generator(rng, bsz)
    plan = sample_plan(rng, severity, width, depth, alpha, len(ops))
    depths, choice, level, negate = plan["depths"], plan["choice"], plan["level"], plan["negate"]

    # all chains of all images form one batch (width·B, 3, H, W), u8 scale, chain-major
    n_ops, max_depth, n = len(ops), choice.shape[0], choice.shape[1]
    mags = _magnitudes(ops, choice, level, negate, (h, w))  # (D, n) float64
    steps = torch.arange(max_depth, device=choice.device).view(max_depth, 1)
    key = torch.where(depths.view(1, n) > steps, choice, n_ops)  # n_ops: past the chain's depth
    # the CPU runs each op on the chains that chose it; a GPU runs all kinds on all chains
    chains = _chains_grouped if x.device.type == "cpu" else _chains_fused
    q = chains(_quantise(x), ops, key, mags)

    # mixed = (1 − m)·x + m·Σ_j w_j·chain_j, the u8 scale folded into the weights (elementwise:
    # a matmul could run in TF32)
    chains = q.view(width, bsz, *x.shape[1:])
    ws = plan["ws"].to(q.dtype) / 255
    mix = chains[0] * ws[:, 0].view(bsz, 1, 1, 1)
    for j in range(1, width):
        mix.addcmul_(chains[j], ws[:, j].view(bsz, 1, 1, 1))
    mm = plan["m"].view(bsz, 1, 1, 1).to(x.dtype)
    out = x * (1 - mm)  # in x's memory format (channels-last on the GPU training path)
    return out.add_(mix.to(x.dtype).mul_(mm)).clamp_(0, 1)
