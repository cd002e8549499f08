"""Tests for selecmix.data.corruptions (CIFAR-10-C corruptions).

Real CIFAR-10 images are used when the env var SELECMIX_DATA points at a data
root holding cifar10/train/<class>/NNNN.jpg; otherwise a deterministic
synthetic batch (smooth colour gradients + noise) stands in.

scikit-image is not a dependency of the package: the tests that compare with
its functions (the HSV conversion, the Gaussian filter) run where it is
installed (requirements.txt pins it) and are skipped elsewhere.
"""

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from selecmix.data import corruptions as C
from selecmix.data.corruptions import CIFAR10C_PARAMS, CORRUPTIONS, corrupt, rgb2hsv

REFERENCE = json.loads((Path(__file__).parent / "data" / "corruption_reference.json").read_text())


def _sha(a: np.ndarray) -> str:
    """The key of tests/data/corruption_reference.json: sha256 of the bytes, dtype, shape."""
    a = np.ascontiguousarray(a)
    return f"{hashlib.sha256(a.tobytes()).hexdigest()}:{a.dtype}:{'x'.join(map(str, a.shape))}"


def gaussian(*args, **kwargs):
    """skimage.filters.gaussian, or skip the test where scikit-image is not installed."""
    return pytest.importorskip("skimage.filters").gaussian(*args, **kwargs)

RANDOM = ("elastic_transform", "frost", "gaussian_noise", "impulse_noise")


def _real_images(per_class: int = 4) -> np.ndarray | None:
    root = os.environ.get("SELECMIX_DATA")
    if not root:
        return None
    train = Path(root) / "cifar10" / "train"
    if not train.is_dir():
        return None
    files = [f for d in sorted(train.iterdir()) if d.is_dir() for f in sorted(d.glob("*.jpg"))[:per_class]]
    if not files:
        return None
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])


def _synthetic_images(n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(1234)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    out = []
    for _ in range(n):
        a, b, c = rng.uniform(-1, 1, size=(3, 3))
        base = rng.uniform(0.2, 0.8, size=3)
        img = base + 0.3 * (a * xx[..., None] + b * yy[..., None] + c * xx[..., None] * yy[..., None])
        img += 0.3 * (((xx - rng.uniform()) ** 2 + (yy - rng.uniform()) ** 2) < 0.05)[..., None]  # a blob
        img += rng.normal(0, 0.03, size=img.shape)
        out.append(np.clip(img * 255, 0, 255).astype(np.uint8))
    return np.stack(out)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    real = _real_images()
    return real if real is not None else _synthetic_images()


def _trunc(x: np.ndarray) -> np.ndarray:
    return np.uint8(np.clip(x, 0, 1) * 255)


def _mean_change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


# ------------------------------------------------------------------ basics


def test_names_and_params():
    assert CORRUPTIONS == (
        "brightness", "contrast", "defocus_blur", "elastic_transform", "frost",
        "gaussian_blur", "gaussian_noise", "impulse_noise", "pixelate", "saturate",
    )  # fmt: skip
    assert set(CIFAR10C_PARAMS) == set(CORRUPTIONS)
    assert all(len(v) == 5 for v in CIFAR10C_PARAMS.values())
    assert CIFAR10C_PARAMS["gaussian_noise"][4] == 0.10
    assert CIFAR10C_PARAMS["elastic_transform"][4] == pytest.approx((3.2, 0.96, 0.96))


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_shape_dtype_and_change(images, name):
    before = images.copy()
    out = corrupt(images, name, 5, np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert np.array_equal(images, before), "input must not be modified"
    assert _mean_change(out, images) > 1.0
    one = corrupt(images[0], name, 5, np.random.default_rng(0))
    assert one.dtype == np.uint8 and one.shape == (32, 32, 3)


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_determinism(images, name):
    a = corrupt(images, name, 5, np.random.default_rng(7))
    b = corrupt(images, name, 5, np.random.default_rng(7))
    assert np.array_equal(a, b)
    c = corrupt(images, name, 5, np.random.default_rng(8))
    assert np.array_equal(a, c) != (name in RANDOM)


def test_default_rng_is_seeded(images):
    assert np.array_equal(corrupt(images, "gaussian_noise"), corrupt(images, "gaussian_noise"))


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_views_and_empty_batches(images, name):
    view = images[:4, ::-1]  # not contiguous
    out = corrupt(view, name, 5, np.random.default_rng(0))
    assert np.array_equal(out, corrupt(np.ascontiguousarray(view), name, 5, np.random.default_rng(0)))
    assert corrupt(images[:0], name).shape == (0, 32, 32, 3)


def test_single_image_matches_batch(images):
    batch = corrupt(images[:1], "elastic_transform", 3, np.random.default_rng(5))
    one = corrupt(images[0], "elastic_transform", 3, np.random.default_rng(5))
    assert np.array_equal(batch[0], one)


# ------------------------------------------------------------------ noise


def test_gaussian_noise_std():
    grey = np.full((100, 32, 32, 3), 128, np.uint8)
    out = corrupt(grey, "gaussian_noise", 5, np.random.default_rng(0)).astype(float)
    resid = out - 128
    assert resid.std() == pytest.approx(0.10 * 255, rel=0.02)
    assert resid.mean() == pytest.approx(-0.5, abs=0.2)  # truncation, not rounding
    weak = corrupt(grey, "gaussian_noise", 1, np.random.default_rng(0)).astype(float) - 128
    assert weak.std() == pytest.approx(0.04 * 255, rel=0.02)


def test_impulse_noise_fraction():
    grey = np.full((100, 32, 32, 3), 128, np.uint8)
    out = corrupt(grey, "impulse_noise", 5, np.random.default_rng(0))
    salt, pepper = (out == 255).mean(), (out == 0).mean()
    assert salt + pepper == pytest.approx(0.07, abs=0.003)
    assert salt == pytest.approx(pepper, abs=0.003)
    untouched = out[(out != 0) & (out != 255)]
    assert np.all(untouched == _trunc(np.float64(128) / 255))


# ------------------------------------------------------------------ colour


def test_contrast_shrinks_std(images):
    out = corrupt(images, "contrast", 5, np.random.default_rng(0)).astype(float)
    x = images.astype(float)
    ratio = out.std(axis=(1, 2)) / x.std(axis=(1, 2))
    keep = x.std(axis=(1, 2)) > 10
    assert np.allclose(ratio[keep], 0.15, atol=0.03)
    assert np.allclose(out.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=1.5)


def test_brightness_raises_value(images):
    out = corrupt(images, "brightness", 5, np.random.default_rng(0))
    v_in = rgb2hsv(images / 255.0)[..., 2]
    v_out = rgb2hsv(out / 255.0)[..., 2]
    room = v_in < 0.69
    assert np.abs(v_out[room] - v_in[room] - 0.3).max() <= 1.5 / 255
    assert np.all(v_out[~room] >= 0.99 - 1 / 255)


@pytest.mark.parametrize("severity", [1, 5])
def test_saturate(images, severity):
    scale, shift = CIFAR10C_PARAMS["saturate"][severity - 1]
    out = corrupt(images, "saturate", severity, np.random.default_rng(0))
    hsv_in, hsv_out = rgb2hsv(images / 255.0), rgb2hsv(out / 255.0)
    bright = hsv_in[..., 2] > 0.4  # S is poorly defined for dark uint8 pixels
    expected = np.clip(hsv_in[..., 1] * scale + shift, 0, 1)
    assert np.median(np.abs(hsv_out[..., 1] - expected)[bright]) < 0.01
    assert np.allclose(hsv_out[..., 2], hsv_in[..., 2], atol=1.5 / 255)  # value unchanged


# ------------------------------------------------------------------ blur


@pytest.mark.parametrize("severity", [1, 5])
def test_gaussian_blur_equals_skimage(images, severity):
    sigma = CIFAR10C_PARAMS["gaussian_blur"][severity - 1]
    out = corrupt(images[:8], "gaussian_blur", severity)
    for img, got in zip(images[:8], out):
        expected = _trunc(gaussian(img / 255.0, sigma=sigma, channel_axis=-1))
        assert np.array_equal(got, expected)


def test_disk_kernel():
    k = C.disk_kernel(1.5, 0.1)
    assert k.shape == (17, 17) and k.dtype == np.float32
    assert k.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(k, k.T) and np.allclose(k, k[::-1])
    assert np.count_nonzero(k > 1e-3) == 9  # the radius-1.5 disk covers a 3x3 block


@pytest.mark.parametrize("severity", [1, 4, 5])
def test_defocus_equals_filter2d(images, severity):
    radius, alias = CIFAR10C_PARAMS["defocus_blur"][severity - 1]
    kernel = C.disk_kernel(radius, alias)
    out = corrupt(images[:8], "defocus_blur", severity)
    for img, got in zip(images[:8], out):
        x = img / 255.0
        chans = [cv2.filter2D(x[:, :, ch], -1, kernel, borderType=cv2.BORDER_REFLECT_101) for ch in range(3)]
        assert np.array_equal(got, _trunc(np.stack(chans, axis=-1)))


# ------------------------------------------------------------------ geometry


def _elastic_reference(img, alpha, sigma, affine, rng):
    """Elastic transform written out the way CIFAR-10-C does it: skimage
    gaussian for the fields and one 3-d map_coordinates call."""
    image = np.array(img, dtype=np.float32) / 255.0
    shape = image.shape
    center = np.float32(shape[:2]) // 2
    size = min(shape[:2]) // 3
    pts1 = np.float32([center + size, [center[0] + size, center[1] - size], center - size])
    pts2 = pts1 + rng.uniform(-affine, affine, size=pts1.shape).astype(np.float32)
    matrix = cv2.getAffineTransform(pts1, pts2)
    image = cv2.warpAffine(image, matrix, shape[:2][::-1], borderMode=cv2.BORDER_REFLECT_101)
    dx = (gaussian(rng.uniform(-1, 1, size=shape[:2]), sigma, mode="reflect", truncate=3) * alpha).astype(np.float32)
    dy = (gaussian(rng.uniform(-1, 1, size=shape[:2]), sigma, mode="reflect", truncate=3) * alpha).astype(np.float32)
    x, y, z = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    idx = (y + dy[..., None]).reshape(-1, 1), (x + dx[..., None]).reshape(-1, 1), z.reshape(-1, 1)
    return _trunc(ndimage.map_coordinates(image, idx, order=1, mode="reflect").reshape(shape))


@pytest.mark.parametrize("severity", [1, 2, 5])
def test_elastic_matches_reference(images, severity):
    params = CIFAR10C_PARAMS["elastic_transform"][severity - 1]
    out = corrupt(images[:6], "elastic_transform", severity, np.random.default_rng(11))
    rng = np.random.default_rng(11)
    expected = np.stack([_elastic_reference(img, *params, rng) for img in images[:6]])
    assert np.array_equal(out, expected)


def test_pixelate_equals_pil_box(images):
    out = corrupt(images[:8], "pixelate", 5)
    for img, got in zip(images[:8], out):
        small = Image.fromarray(img).resize((20, 20), Image.Resampling.BOX)
        assert np.array_equal(got, np.asarray(small.resize((32, 32), Image.Resampling.BOX)))
    # 20 source pixels per row -> at most 20 distinct values per row and channel
    for row in out[:, 5]:
        assert all(len(np.unique(row[:, ch])) <= 20 for ch in range(3))


# ------------------------------------------------------------------ frost


def test_frost_textures():
    textures = C.frost_textures()
    assert len(textures) == 5
    assert all(t.dtype == np.uint8 and t.ndim == 3 and t.shape[2] == 3 and min(t.shape[:2]) > 32 for t in textures)
    assert textures[0].shape == (120, 180, 3)  # frost1.png is 600 x 900
    # the exact pixels that cv2.imread + cv2.resize(fx=0.2) gave from imagecorruptions' pictures (BGR there)
    assert [_sha(t[..., ::-1]) for t in textures] == REFERENCE["textures"]


def test_frost_assets_carry_licence_and_attribution():
    folder = C.FROST_DIR
    assert (folder / "LICENSE").read_text().startswith("                                 Apache License")
    readme = (folder / "README.md").read_text()
    assert "imagecorruptions" in readme and "Hendrycks" in readme and "resize" in readme
    assert sum((folder / f).stat().st_size for f in C.FROST_FILES) < 300_000


def test_frost_blends_a_texture_crop():
    black = np.zeros((1, 32, 32, 3), np.uint8)
    out = corrupt(black, "frost", 5, np.random.default_rng(3))
    rng = np.random.default_rng(3)  # replay the draws: texture, top row, left column
    tex = C.frost_textures()[rng.integers(5)]
    top, left = rng.integers(0, tex.shape[0] - 32), rng.integers(0, tex.shape[1] - 32)
    crop = tex[top : top + 32, left : left + 32].astype(float)
    assert np.array_equal(out[0], (0.45 * crop).astype(np.uint8))


def test_frost_brightens_dark_images(images):
    dark = (images // 4).astype(np.uint8)
    out = corrupt(dark, "frost", 5, np.random.default_rng(0))
    assert out.astype(float).mean() > dark.astype(float).mean() + 20


def test_frost_missing_texture_message(monkeypatch, tmp_path):
    C.frost_textures.cache_clear()
    monkeypatch.setattr(C, "FROST_DIR", tmp_path)
    try:
        with pytest.raises(FileNotFoundError, match="frost1.png is missing.*reinstall"):
            corrupt(np.zeros((1, 32, 32, 3), np.uint8), "frost")
    finally:
        monkeypatch.undo()
        C.frost_textures.cache_clear()


# ------------------------------------------------------------------ same bytes as before


def _reference_images(label: str) -> np.ndarray:
    if label == "synthetic":
        return _synthetic_images()
    real = _real_images()
    if real is None:
        pytest.skip("real CIFAR-10 not found (set SELECMIX_DATA to a root with cifar10/train/<class>/*.jpg)")
    return real


@pytest.mark.parametrize("label", ["real", "synthetic"])
@pytest.mark.parametrize("name", ["frost", "brightness", "saturate"])
def test_same_bytes_as_before(label, name):
    """Frost (textures now shipped with the package) and the HSV corruptions (numpy HSV now) give the
    bytes that the imagecorruptions textures and scikit-image's HSV conversion gave, at every severity;
    the hashes were written from that implementation before the change."""
    images = _reference_images(label)
    assert _sha(images) == REFERENCE[label]["images"], "the reference images themselves changed"
    for severity in range(1, 6):
        out = corrupt(images, name, severity, np.random.default_rng(severity))
        assert _sha(out) == REFERENCE[label][name][str(severity)], (name, severity)


@pytest.mark.parametrize("label", ["real", "synthetic"])
def test_hsv_bit_identical_to_skimage(label):
    color = pytest.importorskip("skimage.color")
    images = _reference_images(label)
    x = images / 255.0
    hsv = rgb2hsv(x)
    assert hsv.tobytes() == color.rgb2hsv(x).tobytes()
    for channel, (scale, shift) in [(2, (1.0, c)) for c in CIFAR10C_PARAMS["brightness"]] + [
        (1, p) for p in CIFAR10C_PARAMS["saturate"]
    ]:
        edited = hsv.copy()
        edited[..., channel] = np.clip(edited[..., channel] * scale + shift, 0, 1)
        assert C.hsv2rgb(edited).tobytes() == color.hsv2rgb(edited).tobytes()
    # edge cases: greys, black, white, ties between channels, hue 0 and 1
    rng = np.random.default_rng(0)
    rgb = rng.random((20_000, 3))
    rgb[::7, 1] = rgb[::7, 0]
    rgb[::11] = 0.0
    rgb[::13] = 1.0
    rgb[::17, 2] = rgb[::17, 1]
    assert rgb2hsv(rgb).tobytes() == color.rgb2hsv(rgb).tobytes()
    h = rng.random((20_000, 3))
    h[::5, 0], h[::9, 0], h[::3, 1] = 1.0, 0.0, 0.0
    assert C.hsv2rgb(h).tobytes() == color.hsv2rgb(h).tobytes()


# ------------------------------------------------------------------ severity


@pytest.mark.parametrize(
    "name", ["contrast", "defocus_blur", "gaussian_blur", "gaussian_noise", "impulse_noise", "pixelate", "brightness"]
)
def test_severity_order(images, name):
    changes = [_mean_change(corrupt(images, name, s, np.random.default_rng(0)), images) for s in range(1, 6)]
    assert all(a < b for a, b in zip(changes, changes[1:])), changes


# ------------------------------------------------------------------ errors


def test_errors(images):
    with pytest.raises(ValueError, match="Unknown corruption 'fog'.*gaussian_noise"):
        corrupt(images, "fog")
    for bad in (0, 6, 2.0):
        with pytest.raises(ValueError, match="severity"):
            corrupt(images, "contrast", bad)
    with pytest.raises(ValueError, match=r"uint8.*\(N, 32, 32, 3\)"):
        corrupt(images / 255.0, "contrast")
    with pytest.raises(ValueError, match=r"\(N, 32, 32, 3\)"):
        corrupt(images.transpose(0, 3, 1, 2).copy(), "contrast")
    with pytest.raises(ValueError, match=r"\(N, 32, 32, 3\)"):
        corrupt(np.zeros((2, 64, 64, 3), np.uint8), "contrast")
    with pytest.raises(ValueError, match="uint8"):
        corrupt(images.tolist(), "contrast")
    with pytest.raises(TypeError, match="Generator"):
        corrupt(images, "contrast", 5, rng=0)
