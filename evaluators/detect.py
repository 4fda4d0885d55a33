"""Finding known pictures in frames: masked normalised cross-correlation, at several scales.

Pure numpy (FFT correlation): frames and templates in, scores out. Used by the ad checks to find the
brand's logo in delivered frames and to confirm that a caption or an end card drawn by assembly is
really on screen.

Masked NCC (Padfield, "Masked Object Registration in the Fourier Domain", IEEE TIP 2012): for a
template t with mask m (its opaque pixels) placed at each offset of image I,

    ncc = sum(m * (t - mean_m t) * I) / sqrt(sum(m * (t - mean_m t)^2) * (sum(m * I^2) - sum(m * I)^2 / n))

computed for every offset with three FFT correlations. 1.0 is a perfect match up to brightness and
contrast; unrelated pictures sit near 0.
"""

from __future__ import annotations

import functools

import numpy as np

# Luma weights (Rec. 601, the matrix the cuts are encoded with).
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
MIN_TEMPLATE_PX = 8  # a template smaller than this on its short side says nothing
MIN_TEMPLATE_STD = 4.0  # a template flatter than this (grey levels) cannot be told from a plain area
MIN_PATCH_STD = 0.5  # an image patch plainer than this (grey levels) is not searched for a template
# Raise when a search scores the same pictures differently: scores kept from the old search are not reused.
SEARCH_FORMAT = 2
STATIC_MAD = 2.0  # mean absolute difference (grey levels) under which two frames are the same picture


def gray(image: np.ndarray) -> np.ndarray:
    """An RGB(A) uint8 image [H,W,3|4] (or already grey [H,W]) as float32 luma."""
    image = np.asarray(image)
    if image.ndim == 2:
        return image.astype(np.float32)
    return image[..., :3].astype(np.float32) @ LUMA


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """A float or uint8 image [H,W] or [H,W,C] resized with PIL's area-averaging (box) filter."""
    from PIL import Image

    arr = np.asarray(image, np.float32)
    channels = [arr] if arr.ndim == 2 else [arr[..., c] for c in range(arr.shape[2])]
    out = [np.asarray(Image.fromarray(c, mode="F").resize((width, height), Image.BOX)) for c in channels]
    return out[0] if arr.ndim == 2 else np.stack(out, axis=-1)


def _fast_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """The FFT size for a correlation of `shape`: each side up to the next 2^a 3^b 5^c (a fast length)."""
    return _smooth(shape[0]), _smooth(shape[1])


@functools.lru_cache(maxsize=256)
def _smooth(n: int) -> int:
    """The least 5-smooth number (2^a 3^b 5^c) not under n."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            k = p35 << max(0, (-(-n // p35) - 1).bit_length())  # p35 times the least power of 2 reaching n
            best, p35 = min(best, k), p35 * 3
        p5 *= 5
    return best


def _spectrum(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.fft.rfft2(np.asarray(array, np.float64), shape)


class NccTemplate:
    """A grey template and its mask made ready for masked NCC (see the module's docstring): its centred
    picture, energies and FFT spectra are made once and kept per FFT size, so searching many images of one
    size costs the images' transforms alone."""

    def __init__(self, template: np.ndarray, mask: np.ndarray | None = None) -> None:
        template = np.asarray(template, np.float64)
        self.mask = np.ones_like(template) if mask is None else (np.asarray(mask) > 0).astype(np.float64)
        self.shape = template.shape
        self.n = self.mask.sum()
        self.centred = (template - (template * self.mask).sum() / self.n) * self.mask if self.n >= 1 else template
        self.energy = (self.centred**2).sum()
        self._spectra: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def scores(self, image: np.ndarray) -> np.ndarray:
        """Masked NCC at every valid offset of a grey image (NaN-free, in [-1, 1]). The image is taken about its
        mean and correlated in float64: the patch variance is a difference of two large sums, and in float32
        their rounding (several grey levels squared) made plain areas look textured, where the template then
        "matched" at 1.0."""
        image = np.asarray(image, np.float64)
        (kh, kw), (ih, iw) = self.shape, image.shape
        if kh > ih or kw > iw:
            return np.zeros((0, 0))
        if self.n < 1:
            return np.zeros((ih - kh + 1, iw - kw + 1))
        image = image - image.mean()
        shape = _fast_shape((ih + kh, iw + kw))
        if shape not in self._spectra:
            self._spectra[shape] = (_spectrum(self.centred[::-1, ::-1], shape), _spectrum(self.mask[::-1, ::-1], shape))
        centred, mask = self._spectra[shape]
        plain = _spectrum(image, shape)  # valid-mode cross-correlations through the FFT (fast sizes)
        num, local_sum, local_sq = (np.fft.irfft2(a * b, shape)[kh - 1 : ih, kw - 1 : iw]
                                    for a, b in ((plain, centred), (plain, mask), (_spectrum(image**2, shape), mask)))  # fmt: skip
        i_energy = np.maximum(local_sq - local_sum**2 / self.n, 0.0)
        denom = np.sqrt(i_energy * self.energy)
        # Plain image areas (under MIN_PATCH_STD grey levels) cannot match a textured template.
        textured = i_energy > self.n * MIN_PATCH_STD**2
        out = np.where(textured, num / np.maximum(denom, 1e-12), 0.0)
        return np.clip(out, -1.0, 1.0)


def masked_ncc(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Masked NCC of a grey template over every valid offset of a grey image (NaN-free, in [-1, 1])."""
    return NccTemplate(template, mask).scores(image)


def template_std(template: np.ndarray, mask: np.ndarray | None = None) -> float:
    """The grey-level spread of a template's opaque pixels (too flat a template cannot be searched for)."""
    t = np.asarray(template, np.float64)
    m = np.ones_like(t, bool) if mask is None else np.asarray(mask) > 0
    return float(t[m].std()) if m.any() else 0.0


COLOUR_AGREE = 0.6  # the per-channel NCC a grey match needs to count (and the grey score worth checking)


class Template:
    """An RGBA (or RGB) picture to find in RGB frames (`find`), at several scales. What depends on the
    template alone (its picture and mask at each size, blurred, and their spectra) is made at the first
    frame that needs it and kept, so a search over many frames of one size prepares the template once."""

    def __init__(self, template_rgba: np.ndarray) -> None:
        self.tpl = np.asarray(template_rgba)
        tpl = self.tpl
        self.alpha = tpl[..., 3] if tpl.ndim == 3 and tpl.shape[2] == 4 else np.full(tpl.shape[:2], 255, np.uint8)
        self.grey = gray(tpl)
        self._masks: dict[tuple[int, int], np.ndarray] = {}
        self._kernels: dict[tuple[int, int, int], NccTemplate | None] = {}  # (h, w, channel or -1 for grey)

    def find(self, frame: np.ndarray, low: float = 0.08, high: float = 0.5,
             steps: int = 12) -> tuple[float, tuple[int, int, int, int] | None]:  # fmt: skip
        """The best masked-NCC score of the template in an RGB frame, and where (x, y, w, h).

        1. grey NCC at template heights from `low` to `high` of the frame's short side in `steps` geometric
           steps, then +-4% and +-8% around the best; both pictures are blurred in proportion to the
           template's size, which widens the score's peak over scale (unblurred, a logo 3% off its size
           scored ~0.6; blurred, ~0.9);
        2. at the best size, the colours must agree too (mean per-channel NCC >= COLOUR_AGREE), else that is
           the score: grey alone matched a plain white square on red to a gold-and-white logo at 0.84, colour
           at 0.42. Colour is a veto, not the score, because 4:2:0 video halves the colour resolution: the
           same logo 18 px tall in an encoded frame scored 0.73 in colour and over 0.9 in grey."""
        frame = np.asarray(frame)
        frame_g = gray(frame)
        blurred: dict[float, np.ndarray] = {}  # the grey frame at each blur (sizes share one)

        def grey_at(rel: float) -> float:
            size = self._size(rel, frame_g.shape)
            kernel = None if size is None else self._kernel(*size, -1)
            if kernel is None:
                return -1.0
            sigma = _sigma(size[0])
            if sigma not in blurred:
                blurred[sigma] = _blur(frame_g, sigma)
            scores = kernel.scores(blurred[sigma])
            return float(scores.max()) if scores.size else -1.0

        coarse = {rel: grey_at(rel) for rel in np.geomspace(low, high, steps)}
        best = max(coarse, key=lambda r: coarse[r])
        scores = coarse | {rel: grey_at(rel) for rel in best * np.array([0.92, 0.96, 1.04, 1.08])}
        best = max(scores, key=lambda r: scores[r])
        if scores[best] < COLOUR_AGREE:
            return max(scores[best], 0.0), None
        colour, where = self._colour_score(frame, self._size(best, frame_g.shape))
        return (scores[best], where) if colour >= COLOUR_AGREE else (colour, where)

    def _size(self, rel: float, frame_shape: tuple[int, ...]) -> tuple[int, int] | None:
        """The template's (h, w) at `rel` of the frame's short side, or None where it is too small or too big."""
        h = round(min(frame_shape[:2]) * rel)
        w = round(h * self.tpl.shape[1] / self.tpl.shape[0])
        if min(h, w) < MIN_TEMPLATE_PX or h > frame_shape[0] or w > frame_shape[1]:
            return None
        return h, w

    def _mask(self, h: int, w: int) -> np.ndarray:
        if (h, w) not in self._masks:
            self._masks[h, w] = resize(self.alpha.astype(np.float32), h, w) > 127
        return self._masks[h, w]

    def _kernel(self, h: int, w: int, channel: int) -> NccTemplate | None:
        """The template's grey picture (channel -1) or one colour channel at (h, w), blurred and made ready;
        None where it is too flat to search for."""
        key = (h, w, channel)
        if key not in self._kernels:
            picture = self.grey if channel < 0 else self.tpl[..., channel].astype(np.float32)
            t, m = resize(picture, h, w), self._mask(h, w)
            flat = template_std(t, m) < MIN_TEMPLATE_STD
            self._kernels[key] = None if flat else NccTemplate(_blur(t, _sigma(h)), m)
        return self._kernels[key]

    def _colour_score(self, frame: np.ndarray, size: tuple[int, int] | None) -> tuple[float, tuple[int, int, int, int] | None]:
        """The mean per-channel masked NCC at one template size (channels flat in the template are left out)."""
        if size is None:
            return 0.0, None
        h, w = size
        maps = [kernel.scores(_blur(frame[..., c].astype(np.float32), _sigma(h)))
                for c in range(3) if (kernel := self._kernel(h, w, c)) is not None]  # fmt: skip
        if not maps or not maps[0].size:
            return 0.0, None
        scores = np.mean(maps, axis=0)
        y, x = np.unravel_index(int(scores.argmax()), scores.shape)
        return max(float(scores.max()), 0.0), (int(x), int(y), w, h)


def find_template(frame: np.ndarray, template_rgba: np.ndarray, low: float = 0.08, high: float = 0.5,
                  steps: int = 12) -> tuple[float, tuple[int, int, int, int] | None]:  # fmt: skip
    """`Template(template_rgba).find(frame, ...)`: one frame searched (a search over many frames keeps one
    `Template`)."""
    return Template(template_rgba).find(frame, low, high, steps)


def _sigma(height: int) -> float:
    """The blur for a template `height` px tall (both pictures get it)."""
    return max(1.0, height / 12)


def _blur(image: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """A Gaussian blur of a float32 picture [H,W] as scipy.ndimage.gaussian_filter makes it (the kernel cut at
    `truncate` sigmas, edges mirrored, one axis after the other, summed in float64 and kept in float32 between
    them; the same within 1e-5 of its range), in numpy: finding a logo does not import scipy, a third of a
    second of a caption edit."""
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    taps = np.exp(-0.5 / (sigma * sigma) * x**2)
    taps /= taps.sum()
    out = np.asarray(image, np.float32)
    for axis in (0, 1):
        n = out.shape[axis]
        padded = np.pad(out.astype(np.float64), [(radius, radius) if a == axis else (0, 0) for a in range(2)],
                        mode="symmetric")  # fmt: skip
        total = np.zeros(out.shape, np.float64)
        for k, weight in enumerate(taps):
            total += weight * (padded[k : k + n] if axis == 0 else padded[:, k : k + n])
        out = total.astype(np.float32)
    return out


def region_ncc(frame: np.ndarray, expected: np.ndarray, box: tuple[int, int, int, int],
               mask: np.ndarray | None = None) -> float:  # fmt: skip
    """NCC between what a frame shows in box (x, y, w, h) and the picture expected there (both RGB or grey)."""
    x, y, w, h = box
    got = gray(frame)[y : y + h, x : x + w]
    want = gray(expected)
    if got.shape != want.shape or got.size == 0:
        return 0.0
    m = np.ones(got.shape, bool) if mask is None else np.asarray(mask) > 0
    a, b = got[m] - got[m].mean(), want[m] - want[m].mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 1e-6 else 0.0


def trailing_static(frames: np.ndarray, tolerance: float = STATIC_MAD) -> int:
    """How many frames at the end of a clip [N,H,W,3] show the same picture as the last one."""
    if len(frames) == 0:
        return 0
    last = gray(frames[-1])
    count = 0
    for frame in frames[::-1]:
        if float(np.abs(gray(frame) - last).mean()) > tolerance:
            break
        count += 1
    return count


def picture_changes(frames: np.ndarray) -> np.ndarray:
    """Mean absolute grey difference between consecutive frames [N,H,W,3] -> [N-1] (a cut is a spike)."""
    g = np.stack([gray(f) for f in frames]) if len(frames) else np.zeros((0, 1, 1))
    return np.abs(np.diff(g, axis=0)).mean(axis=(1, 2)) if len(g) > 1 else np.zeros(0)
