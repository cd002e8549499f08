"""The ten image corruptions of the Corrupted CIFAR-10 benchmark.

CIFAR-10-C (Hendrycks & Dietterich, "Benchmarking Neural Network Robustness
to Common Corruptions and Perturbations", ICLR 2019) applies 15+4 synthetic
corruptions, each at five severity levels (1..5), to the CIFAR-10 images.
The debiasing benchmark "Corrupted CIFAR-10", introduced by LfF, ties each
class to one corruption (the bias attribute).  The version of DFA, which
SelecMix uses, takes these ten (LfF's two variants used other lists):

    brightness, contrast, defocus_blur, elastic_transform, frost,
    gaussian_blur, gaussian_noise, impulse_noise, pixelate, saturate

(``CORRUPTIONS`` keeps this order; it is also the class -> corruption map.)

The parameters below are those of CIFAR-10-C (``make_cifar_c.py`` in
github.com/hendrycks/robustness), tuned for 32x32 images.  They are *not*
the ImageNet-C parameters that the ``imagecorruptions`` pip package uses for
large images, which is why we do not call that package's functions.  Frost
needs CIFAR-10-C's frost pictures: they ship with this package, already
shrunk to the 20 % that CIFAR-10-C uses, in ``selecmix/data/assets/frost``
(see the README and LICENSE there for where they come from).  The code here
is our own and works on a whole batch at once where that is natural.

LfF built Corrupted CIFAR-10 at CIFAR-10-C level 5, the strongest one; the
papers call it "severity 4" because LfF counts severities from zero.

Like CIFAR-10-C, results are turned back into bytes with
``np.uint8(np.clip(x, 0, 1) * 255)``: values are truncated, not rounded
(127.9 -> 127), so float results lose half a grey level on average.
Frost and pixelate work in 0..255 and are truncated the same way.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from scipy import ndimage

IMSIZE = 32

CORRUPTIONS: tuple[str, ...] = ("brightness", "contrast", "defocus_blur", "elastic_transform", "frost",
                                 "gaussian_blur", "gaussian_noise", "impulse_noise", "pixelate", "saturate")

# CIFAR-10-C parameters; entry i is severity level i + 1.
CIFAR10C_PARAMS: dict[str, list] = {
    "brightness": [0.05, 0.1, 0.15, 0.2, 0.3],  # added to HSV value
    "contrast": [0.75, 0.5, 0.4, 0.3, 0.15],  # factor around the image mean
    "defocus_blur": [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],  # (radius, alias_blur)
    "elastic_transform": [(IMSIZE * a, IMSIZE * s, IMSIZE * f)     # (alpha, sigma, affine), in pixels
                          for a, s, f in ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06),
                                          (0.1, 0.04, 0.05), (0.1, 0.03, 0.03))],
    "frost": [(1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)],  # (image, frost) weights
    "gaussian_blur": [0.4, 0.6, 0.7, 0.8, 1],  # sigma
    "gaussian_noise": [0.04, 0.06, 0.08, 0.09, 0.10],  # noise std
    "impulse_noise": [0.01, 0.02, 0.03, 0.05, 0.07],  # fraction of values hit
    "pixelate": [0.95, 0.9, 0.85, 0.75, 0.65],  # downscale factor
    "saturate": [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],  # S -> S * a + b
}

# CIFAR-10-C draws randint(5) among frost1.png, frost2.png, frost3.png, frost4.jpg and frost5.jpg
# (frost6.jpg is never used), each read by cv2.imread and shrunk by cv2.resize(fx=0.2, fy=0.2).
# The files below are exactly those shrunk pixels, as lossless RGB PNGs.
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.png", "frost5.png")
FROST_DIR = Path(__file__).resolve().parent / "assets" / "frost"


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 by truncation, as CIFAR-10-C does."""
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)


# ---------------------------------------------------------------- noise
def gaussian_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """Add N(0, c^2) to every value of ``x`` (floats in [0, 1])."""
    return np.clip(x + rng.normal(0.0, c, size=x.shape), 0, 1)


def impulse_noise(x: np.ndarray, c: float, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper: each value becomes 1 or 0 (half each) with probability ``c``."""
    hit = rng.random(x.shape) < c
    salt = rng.random(x.shape) < 0.5
    out = x.copy()
    out[hit & salt] = 1.0
    out[hit & ~salt] = 0.0
    return out


# ---------------------------------------------------------------- blur
def gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """skimage.filters.gaussian(channel_axis=-1) on every image of ``x`` (N, H, W, C)."""
    return np.clip(ndimage.gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="nearest", truncate=4.0), 0, 1)


def disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """CIFAR-10-C's defocus kernel: a normalised disk, slightly Gaussian-blurred."""
    if radius <= 8:
        coords, ksize = np.arange(-8, 8 + 1), (3, 3)
    else:
        coords, ksize = np.arange(-radius, radius + 1), (5, 5)
    xx, yy = np.meshgrid(coords, coords)
    disk = np.array(xx**2 + yy**2 <= radius**2, dtype=np.float32)
    disk /= disk.sum()
    return cv2.GaussianBlur(disk, ksize=ksize, sigmaX=alias_blur)


def defocus_blur(x: np.ndarray, radius: float, alias_blur: float) -> np.ndarray:
    """Correlate each channel with ``disk_kernel`` (cv2, border reflect-101)."""
    kernel = disk_kernel(radius, alias_blur)
    out = np.stack([cv2.filter2D(img, -1, kernel) for img in x])
    return np.clip(out, 0, 1)


# ---------------------------------------------------------------- geometry
def _elastic_one(img: np.ndarray, alpha: float, sigma: float, affine: float, rng: np.random.Generator) -> np.ndarray:
    """Random affine warp, then a smooth random displacement field, on one (H, W, C) float32 image."""
    h, w = img.shape[:2]
    center = np.float32((h, w)) // 2
    half = min(h, w) // 3
    pts1 = np.float32([center + half, [center[0] + half, center[1] - half], center - half])
    pts2 = pts1 + rng.uniform(-affine, affine, size=pts1.shape).astype(np.float32)
    matrix = cv2.getAffineTransform(pts1, pts2)
    img = cv2.warpAffine(img, matrix, (w, h), borderMode=cv2.BORDER_REFLECT_101)

    def field() -> np.ndarray:
        # = skimage.filters.gaussian(noise, sigma, mode="reflect", truncate=3)
        noise = rng.uniform(-1, 1, size=(h, w))
        return (ndimage.gaussian_filter(noise, sigma, mode="reflect", truncate=3) * alpha).astype(np.float32)

    dx, dy = field(), field()
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    coords = np.stack([(yy + dy).ravel(), (xx + dx).ravel()])
    out = np.stack([ndimage.map_coordinates(img[..., ch], coords, order=1, mode="reflect")
                    for ch in range(img.shape[2])], axis=-1)
    return np.clip(out.reshape(img.shape), 0, 1)


def elastic_transform(images: np.ndarray, alpha: float, sigma: float, affine: float,
                      rng: np.random.Generator) -> np.ndarray:
    """Per uint8 image: random affine (points moved by up to ``affine`` px), then a
    displacement field of Gaussian-smoothed (``sigma``) noise scaled by ``alpha``."""
    x = images.astype(np.float32) / np.float32(255)  # float32 like CIFAR-10-C
    return np.stack([_elastic_one(img, alpha, sigma, affine, rng) for img in x])


def pixelate(images: np.ndarray, c: float) -> np.ndarray:
    """PIL box-downscale each uint8 image to ``int(32 * c)`` pixels and box-upscale it back."""
    h, w = images.shape[1:3]
    small = (int(w * c), int(h * c))
    box = Image.Resampling.BOX
    return np.stack([np.asarray(Image.fromarray(img).resize(small, box).resize((w, h), box)) for img in images])


# ---------------------------------------------------------------- frost
@lru_cache(maxsize=1)
def frost_textures() -> tuple[np.ndarray, ...]:
    """The five CIFAR-10-C frost textures, RGB uint8, at the 20 % scale CIFAR-10-C uses (cached)."""
    textures = []
    for name in FROST_FILES:
        path = FROST_DIR / name
        if not path.is_file():
            raise FileNotFoundError(f"Frost texture {path} is missing: the selecmix package is incomplete; reinstall "
                                    "it (pip install --force-reinstall selecmix, or pip install -e . in a checkout).")
        with Image.open(path) as im:
            textures.append(np.asarray(im.convert("RGB")))
    return tuple(textures)


def frost(images: np.ndarray, c_img: float, c_frost: float, rng: np.random.Generator) -> np.ndarray:
    """Blend each uint8 image with a random crop of a random frost texture:
    ``c_img * image + c_frost * crop`` in 0..255."""
    textures = frost_textures()
    h, w = images.shape[1:3]
    crops = np.empty(images.shape, dtype=np.uint8)
    for i in range(len(images)):
        tex = textures[rng.integers(len(textures))]
        top = rng.integers(0, tex.shape[0] - h)
        left = rng.integers(0, tex.shape[1] - w)
        crops[i] = tex[top : top + h, left : left + w]
    return np.clip(c_img * images.astype(np.float64) + c_frost * crops, 0, 255)


# ---------------------------------------------------------------- colour
def contrast(x: np.ndarray, c: float) -> np.ndarray:
    """Scale each image's deviations from its per-channel mean by ``c``."""
    means = x.mean(axis=(1, 2), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1)


def rgb2hsv(rgb: np.ndarray) -> np.ndarray:
    """RGB floats (..., 3) -> HSV, all in [0, 1]: scikit-image's ``rgb2hsv`` (0.26) written out with
    the same operations in the same order, so the results are the same floats bit for bit
    (``tests/test_corruptions.py`` checks this against scikit-image and against stored hashes)."""
    arr = np.asarray(rgb, dtype=np.float64)
    out = np.empty_like(arr)
    out_v = arr.max(-1)
    delta = np.ptp(arr, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out_s = delta / out_v
        out_s[delta == 0.0] = 0.0
        idx = arr[..., 0] == out_v  # red is max
        out[idx, 0] = (arr[idx, 1] - arr[idx, 2]) / delta[idx]
        idx = arr[..., 1] == out_v  # green is max
        out[idx, 0] = 2.0 + (arr[idx, 2] - arr[idx, 0]) / delta[idx]
        idx = arr[..., 2] == out_v  # blue is max
        out[idx, 0] = 4.0 + (arr[idx, 0] - arr[idx, 1]) / delta[idx]
        out_h = (out[..., 0] / 6.0) % 1.0
    out_h[delta == 0.0] = 0.0
    out[..., 0], out[..., 1], out[..., 2] = out_h, out_s, out_v
    out[np.isnan(out)] = 0
    return out


def hsv2rgb(hsv: np.ndarray) -> np.ndarray:
    """HSV floats (..., 3) -> RGB: scikit-image's ``hsv2rgb`` (0.26), same operations, same floats."""
    arr = np.asarray(hsv, dtype=np.float64)
    h, s, v = arr[..., 0], arr[..., 1], arr[..., 2]
    hi = np.floor(h * 6)
    f = h * 6 - hi
    p = v * (1 - s)
    q = v * (1 - f * s)
    t = v * (1 - (1 - f) * s)
    sector = hi.astype(np.uint8) % 6
    choices = ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))
    out = np.empty_like(arr)
    for ch in range(3):
        out[..., ch] = np.choose(sector, [c[ch] for c in choices])
    return out


def _edit_hsv(x: np.ndarray, channel: int, scale: float, shift: float, chunk: int = 256) -> np.ndarray:
    """RGB -> HSV, ``channel = clip(channel * scale + shift, 0, 1)``, -> RGB.

    Works on ``chunk`` images at a time: the conversions are about 2.5x
    faster on cache-sized pieces than on a whole 5,000-image batch.
    """
    out = np.empty_like(x)
    for i in range(0, len(x), chunk):
        hsv = rgb2hsv(x[i : i + chunk])
        hsv[..., channel] = np.clip(hsv[..., channel] * scale + shift, 0, 1)
        out[i : i + chunk] = hsv2rgb(hsv)
    return np.clip(out, 0, 1)


def brightness(x: np.ndarray, c: float) -> np.ndarray:
    """Add ``c`` to the HSV value V."""
    return _edit_hsv(x, 2, 1.0, c)


def saturate(x: np.ndarray, scale: float, shift: float) -> np.ndarray:
    """Map the HSV saturation S to ``S * scale + shift``."""
    return _edit_hsv(x, 1, scale, shift)


# ---------------------------------------------------------------- entry point
FLOAT_CORRUPTIONS = {"gaussian_noise": gaussian_noise, "impulse_noise": impulse_noise, "gaussian_blur": gaussian_blur,
                     "defocus_blur": defocus_blur, "contrast": contrast, "brightness": brightness, "saturate": saturate}


def _check(images: np.ndarray, name: str, severity: int) -> None:
    if name not in CORRUPTIONS:
        raise ValueError(f"Unknown corruption {name!r}; choose one of {', '.join(CORRUPTIONS)}.")
    if isinstance(severity, bool) or not isinstance(severity, (int, np.integer)) or not 1 <= severity <= 5:
        raise ValueError(f"severity must be an integer in 1..5 (CIFAR-10-C levels), got {severity!r}.")
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        dtype = getattr(images, "dtype", type(images).__name__)
        raise ValueError(f"images must be a uint8 numpy array of shape (N, 32, 32, 3) HWC RGB, got dtype {dtype}; "
                         "convert with np.asarray(images, dtype=np.uint8) (values 0..255).")
    if images.ndim not in (3, 4) or images.shape[-3:] != (IMSIZE, IMSIZE, 3):
        raise ValueError(f"images must have shape (N, 32, 32, 3) or (32, 32, 3), HWC RGB, got {images.shape}; "
                         "channels-first arrays need .transpose(0, 2, 3, 1).")


def corrupt(images: np.ndarray, name: str, severity: int = 5, rng: np.random.Generator | None = None) -> np.ndarray:
    """Apply CIFAR-10-C corruption ``name`` at ``severity`` (1..5) to ``images``.

    images: uint8 (N, 32, 32, 3) or (32, 32, 3), HWC RGB.
    rng: source of all randomness (default ``np.random.default_rng(0)``).
    Returns a new uint8 array of the same shape.
    Raises ValueError for an unknown name, a severity outside 1..5 or images
    that are not uint8 (N, 32, 32, 3); TypeError if ``rng`` is not a Generator.
    """
    _check(images, name, severity)
    if rng is None:
        rng = np.random.default_rng(0)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}.")
    single = images.ndim == 3
    batch = images[None] if single else images
    if len(batch) == 0:
        return images.copy()
    c = CIFAR10C_PARAMS[name][severity - 1]
    args = c if isinstance(c, tuple) else (c,)
    if name == "pixelate":
        out = pixelate(batch, c)
    elif name == "frost":
        out = frost(batch, *c, rng).astype(np.uint8)
    elif name == "elastic_transform":
        out = _to_uint8(elastic_transform(batch, *c, rng))
    elif name in ("gaussian_noise", "impulse_noise"):          # random, on [0, 1] floats
        out = _to_uint8(FLOAT_CORRUPTIONS[name](batch / 255.0, *args, rng))
    else:                                                      # deterministic, on [0, 1] floats
        out = _to_uint8(FLOAT_CORRUPTIONS[name](batch / 255.0, *args))
    return out[0] if single else out
