"""Batched AugMix on tensors, bit-compatible with the PIL reference ops.

AugMix: Hendrycks et al., "AugMix: A Simple Data Processing Method to Improve Robustness and
Uncertainty", arXiv:1912.02781. Reference: google-research/augmix (``augmentations.py`` for
the ops and their level → parameter maps, ``cifar.py::aug`` for the mixing), used unchanged by
erichson/NoisyMix (arXiv:2202.01263).

The reference runs one PIL image at a time on the CPU. Here a whole batch (B, 3, H, W) is
augmented at once on any device: every (chain, step) draws an op per image, and each op runs
once on the subset of images that chose it. The ops reproduce PIL's integer arithmetic (uint8
images, truncating bilinear sampling, the ImageOps look-up tables, ``Image.blend``), so
``apply_op`` matches PIL pixel for pixel up to float rounding at exact integer boundaries; see
``tests/test_augmix.py``.

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


def level_to_magnitude(
    op: str, level: torch.Tensor, negate: torch.Tensor, image_size: tuple[int, int]
) -> torch.Tensor:
    """Map reference levels (B,) in [0.1, severity] to ``apply_op`` magnitudes (B,) float64.

    ``negate`` (B,) bool flips the sign of the geometric ops (the reference's coin flip).
    ``image_size`` is (H, W); translations are in pixels, a third of the side at level 10.
    """
    level = level.double()  # the reference computes in Python floats (float64)
    if op == "rotate":
        mag = torch.trunc(level * 30 / 10)  # integer degrees
    elif op in ("shear_x", "shear_y"):
        mag = level * 0.3 / 10
    elif op in ("translate_x", "translate_y"):
        # not in paper: the reference uses one IMAGE_SIZE constant for both axes; we use the
        # width for x and the height for y (identical for the square images it supports).
        side = image_size[1] if op == "translate_x" else image_size[0]
        mag = torch.trunc(level * (side / 3) / 10)
    elif op == "posterize":
        mag = 4 - torch.trunc(level * 4 / 10)  # bits kept
    elif op == "solarize":
        mag = 256 - torch.trunc(level * 256 / 10)  # threshold
    elif op in ("color", "contrast", "brightness", "sharpness"):
        mag = level * 1.8 / 10 + 0.1  # enhance factor
    else:  # autocontrast, equalize take no parameter
        mag = torch.zeros_like(level)
    if op in _SIGNED:
        mag = torch.where(negate, -mag, mag)
    return mag  # float64, as the reference's Python floats


# ----------------------------------------------------------------------------------------------
# ops on u8-scale images (N, C, H, W), values integers in [0, 255]
# ----------------------------------------------------------------------------------------------


def _affine_pil(q: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """PIL ``Image.transform(size, AFFINE, (a, b, c, d, e, f), resample=BILINEAR)``, batched.

    coeffs: (N, 6) float64, mapping output pixel centres to input coordinates:
    x_in = a·(x+½) + b·(y+½) + c, y_in = d·(x+½) + e·(y+½) + f (pixel units, origin at the
    top-left corner). PIL's bilinear filter returns the fill colour (0) when the sample point
    lies outside [0, W)×[0, H), clamps neighbour indices at the edges, and truncates the
    result to uint8; all three are reproduced, in float64 as PIL computes.
    """
    # Four gathers rather than ``grid_sample``: grid_sample blends with the zero padding near
    # the edges, and its float32 arithmetic flips pixels by one level wherever PIL's float64
    # value lands on an integer before truncation.
    n, c, h, w = q.shape
    dev = q.device
    ys = torch.arange(h, device=dev, dtype=torch.float64).view(1, h, 1) + 0.5
    xs = torch.arange(w, device=dev, dtype=torch.float64).view(1, 1, w) + 0.5
    a, b, cc, d, e, f = (coeffs[:, i].view(n, 1, 1) for i in range(6))
    xin = a * xs + b * ys + cc  # (N, H, W)
    yin = d * xs + e * ys + f
    inside = (xin >= 0) & (xin < w) & (yin >= 0) & (yin < h)
    xin = xin - 0.5
    yin = yin - 0.5
    x0 = torch.floor(xin)
    y0 = torch.floor(yin)
    dx = (xin - x0).unsqueeze(1)  # (N, 1, H, W), broadcast over channels
    dy = (yin - y0).unsqueeze(1)
    x0 = x0.long()
    y0 = y0.long()
    xa, xb = x0.clamp(0, w - 1), (x0 + 1).clamp(0, w - 1)
    ya, yb = y0.clamp(0, h - 1), (y0 + 1).clamp(0, h - 1)
    flat = q.double().reshape(n, c, h * w)

    def tap(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
        idx = (yy * w + xx).view(n, 1, h * w).expand(n, c, h * w)
        return flat.gather(2, idx).view(n, c, h, w)

    p00, p01, p10, p11 = tap(ya, xa), tap(ya, xb), tap(yb, xa), tap(yb, xb)
    v1 = p00 + (p01 - p00) * dx  # PIL: BILINEAR(v, a, b, d) = a + (b - a)·d
    v2 = p10 + (p11 - p10) * dx
    v = v1 + (v2 - v1) * dy
    out = torch.trunc(v).clamp(0, 255)
    return torch.where(inside.unsqueeze(1), out, torch.zeros_like(out)).to(q.dtype)


def _rotate_coeffs(degrees: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """PIL ``Image.rotate(deg)`` (counter-clockwise, about (W/2, H/2), no expand) as affine
    coefficients (N, 6) float64, following Image.rotate's construction of its inverse matrix."""
    ang = -torch.deg2rad(degrees.double())
    cos = torch.round(torch.cos(ang), decimals=15)  # PIL rounds to 15 decimals
    sin = torch.round(torch.sin(ang), decimals=15)
    cx, cy = w / 2, h / 2
    a, b, d, e = cos, sin, -sin, cos
    c = a * -cx + b * -cy + cx
    f = d * -cx + e * -cy + cy
    return torch.stack([a, b, c, d, e, f], dim=1)


def _geometric(q: torch.Tensor, op: str, mag: torch.Tensor) -> torch.Tensor:
    n, _, h, w = q.shape
    m = mag.double()
    one, zero = torch.ones_like(m), torch.zeros_like(m)
    if op == "rotate":
        coeffs = _rotate_coeffs(m, h, w)
    elif op == "shear_x":  # x_in = x + s·y
        coeffs = torch.stack([one, m, zero, zero, one, zero], dim=1)
    elif op == "shear_y":  # y_in = s·x + y
        coeffs = torch.stack([one, zero, zero, m, one, zero], dim=1)
    elif op == "translate_x":  # x_in = x + t: positive t moves content left, as in PIL
        coeffs = torch.stack([one, zero, m, zero, one, zero], dim=1)
    else:  # translate_y
        coeffs = torch.stack([one, zero, zero, zero, one, m], dim=1)
    return _affine_pil(q, coeffs)


def _histograms(q: torch.Tensor) -> torch.Tensor:
    """Per-image, per-channel 256-bin histograms (N, C, 256) int64 via one bincount."""
    n, c = q.shape[:2]
    offsets = torch.arange(n * c, device=q.device).view(n, c, 1) * 256
    idx = q.long().view(n, c, -1) + offsets
    return torch.bincount(idx.reshape(-1), minlength=n * c * 256).view(n, c, 256)


def _apply_lut(q: torch.Tensor, lut: torch.Tensor) -> torch.Tensor:
    """Per-image per-channel look-up: lut (N, C, 256) integer-valued → same dtype as q."""
    n, c, h, w = q.shape
    out = lut.to(q.dtype).gather(2, q.long().view(n, c, h * w))
    return out.view(n, c, h, w)


def _autocontrast(q: torch.Tensor) -> torch.Tensor:
    """ImageOps.autocontrast (cutoff 0): per channel, map [lo, hi] linearly onto [0, 255]."""
    hist = _histograms(q)
    present = hist > 0
    lo = present.int().argmax(dim=2, keepdim=True)  # first occupied bin
    hi = 255 - present.flip(2).int().argmax(dim=2, keepdim=True)  # last occupied bin
    ix = torch.arange(256, device=q.device, dtype=torch.float64).view(1, 1, 256)
    span = (hi - lo).clamp_min(1).double()
    # tensor / tensor: torch evaluates ``scalar / tensor`` as scalar · (1 / tensor), which is
    # not correctly rounded and flips int() at exact integers (e.g. 33·255/55 = 153).
    scale = torch.full_like(span, 255.0) / span
    offset = -lo.double() * scale
    lut = torch.trunc(ix * scale + offset).clamp(0, 255)  # PIL: int(ix·scale + offset)
    lut = torch.where(hi > lo, lut, ix)  # flat channel: identity
    return _apply_lut(q, lut)


def _equalize(q: torch.Tensor) -> torch.Tensor:
    """ImageOps.equalize: per channel, lut[i] = (step//2 + Σ_{j<i} h[j]) // step with
    step = (Σh − h[last occupied bin]) // 255; identity if ≤ 1 bin is occupied or step = 0."""
    hist = _histograms(q)
    present = hist > 0
    last = 255 - present.flip(2).int().argmax(dim=2, keepdim=True)
    step = (hist.sum(2, keepdim=True) - hist.gather(2, last)) // 255
    cum_before = hist.cumsum(2) - hist  # exclusive cumulative sum
    lut = (step // 2 + cum_before) // step.clamp_min(1)
    lut = lut.clamp_max(255)  # PIL clips lut entries to uint8 when applying them
    ident = torch.arange(256, device=q.device).view(1, 1, 256)
    ok = (present.sum(2, keepdim=True) > 1) & (step > 0)
    return _apply_lut(q, torch.where(ok, lut, ident))


def _blend(degenerate: torch.Tensor, q: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL Image.blend(degenerate, image, factor): float32 arithmetic, clip, truncate."""
    f = factor.float().view(-1, 1, 1, 1)
    v = degenerate.float() + f * (q.float() - degenerate.float())
    return torch.trunc(v.clamp(0, 255)).to(q.dtype)


def _grayscale(q: torch.Tensor) -> torch.Tensor:
    """PIL RGB→L: (19595·R + 38470·G + 7471·B + 2¹⁵) >> 16, shape (N, 1, H, W)."""
    qi = q.long()
    lum = qi[:, 0] * 19595 + qi[:, 1] * 38470 + qi[:, 2] * 7471 + 0x8000
    return (lum >> 16).unsqueeze(1).to(q.dtype)


def _smooth(q: torch.Tensor) -> torch.Tensor:
    """ImageFilter.SMOOTH: 3×3 kernel [[1,1,1],[1,5,1],[1,1,1]]/13, rounded; PIL copies the
    one-pixel border unfiltered."""
    c = q.shape[1]
    k = torch.tensor([[1.0, 1, 1], [1, 5, 1], [1, 1, 1]], device=q.device, dtype=torch.float64)
    k = (k / 13).view(1, 1, 3, 3).expand(c, 1, 3, 3)
    inner = torch.nn.functional.conv2d(q.double(), k, groups=c)
    out = q.clone()
    out[:, :, 1:-1, 1:-1] = torch.floor(inner + 0.5).clamp(0, 255).to(q.dtype)
    return out


def _apply_u8(q: torch.Tensor, op: str, mag: torch.Tensor) -> torch.Tensor:
    """Apply ``op`` to u8-scale images q (N, C, H, W) with per-image magnitudes mag (N,)."""
    if op == "autocontrast":
        return _autocontrast(q)
    if op == "equalize":
        return _equalize(q)
    if op == "posterize":
        # keep the top ``bits`` bits: i & ~(2^(8-bits) − 1)
        # not in paper: bits = 0 (severity > 7.5 only) gives black instead of PIL's ValueError.
        unit = torch.exp2(8 - mag.round().clamp(0, 8)).view(-1, 1, 1, 1).to(q.dtype)
        return torch.floor(q / unit) * unit
    if op == "solarize":
        thr = mag.view(-1, 1, 1, 1).to(q.dtype)
        return torch.where(q < thr, q, 255 - q)
    if op in ("rotate", "shear_x", "shear_y", "translate_x", "translate_y"):
        return _geometric(q, op, mag)
    if op == "color":
        return _blend(_grayscale(q).expand_as(q), q, mag)
    if op == "contrast":
        # degenerate: flat grey at the rounded mean of the L image
        mean = _grayscale(q).double().mean(dim=(1, 2, 3), keepdim=True)
        return _blend(torch.floor(mean + 0.5).expand_as(q), q, mag)
    if op == "brightness":
        return _blend(torch.zeros_like(q), q, mag)
    if op == "sharpness":
        return _blend(_smooth(q), q, mag)
    raise ValueError(f"unknown op {op!r}; expected one of {ALL_OPS}")


def _quantise(x: torch.Tensor) -> torch.Tensor:
    """Float image in [0, 1] → u8 scale, as ToPILImage would (round, not truncate)."""
    return torch.round(x.float().clamp(0, 1) * 255)


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

    if depth > 0:
        depths = torch.full((n,), depth, device=rng.device)
    else:
        depths = chain_major(rng.randint(1, 4, (1, width)))[0]
    choice = chain_major(rng.randint(0, n_ops, (max_depth, width)))
    # a fresh level per application, as the reference draws it (timm once fixed the level at
    # the maximum, which AugMix does not do)
    level = 0.1 + (severity - 0.1) * chain_major(rng.rand((max_depth, width), torch.float64))
    negate = chain_major(rng.rand((max_depth, width))) > 0.5
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
    q = _quantise(x).repeat(width, 1, 1, 1)
    for step in range(choice.shape[0]):
        active = depths > step
        for k, op in enumerate(ops):
            # each op runs once, on the subset of chains that chose it at this step
            idx = torch.nonzero(active & (choice[step] == k)).squeeze(1)
            if idx.numel() == 0:
                continue
            mag = level_to_magnitude(op, level[step, idx], negate[step, idx], (h, w))
            q[idx] = _apply_u8(q[idx], op, mag)

    chains = (q / 255).view(width, bsz, *x.shape[1:])  # (width, B, 3, H, W)
    mix = torch.einsum("bk,kbchw->bchw", plan["ws"].to(chains.dtype), chains)
    mm = plan["m"].view(bsz, 1, 1, 1).to(x.dtype)
    return ((1 - mm) * x + mm * mix.to(x.dtype)).clamp(0, 1)
