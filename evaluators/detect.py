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

import numpy as np

# Luma weights (Rec. 601, the matrix the cuts are encoded with).
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
MIN_TEMPLATE_PX = 8  # a template smaller than this on its short side says nothing
MIN_TEMPLATE_STD = 4.0  # a template flatter than this (grey levels) cannot be told from a plain area
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


def _correlate(image: np.ndarray, kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Valid-mode cross-correlation of `image` with `kernel` through the FFT (float32, fast sizes)."""
    from scipy import fft

    kh, kw = kernel.shape
    ih, iw = image.shape
    shape = (fft.next_fast_len(shape[0], real=True), fft.next_fast_len(shape[1], real=True))
    spectrum = fft.rfft2(image.astype(np.float32), shape) * fft.rfft2(kernel[::-1, ::-1].astype(np.float32), shape)
    return fft.irfft2(spectrum, shape)[kh - 1 : ih, kw - 1 : iw].astype(np.float64)


def masked_ncc(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Masked NCC of a grey template over every valid offset of a grey image (NaN-free, in [-1, 1])."""
    image, template = np.asarray(image, np.float64), np.asarray(template, np.float64)
    mask = np.ones_like(template) if mask is None else (np.asarray(mask) > 0).astype(np.float64)
    if template.shape[0] > image.shape[0] or template.shape[1] > image.shape[1]:
        return np.zeros((0, 0))
    n = mask.sum()
    if n < 1:
        return np.zeros((image.shape[0] - template.shape[0] + 1, image.shape[1] - template.shape[1] + 1))
    centred = (template - (template * mask).sum() / n) * mask
    t_energy = (centred**2).sum()
    shape = (image.shape[0] + template.shape[0], image.shape[1] + template.shape[1])
    num = _correlate(image, centred, shape)
    local_sum = _correlate(image, mask, shape)
    local_sq = _correlate(image**2, mask, shape)
    i_energy = np.maximum(local_sq - local_sum**2 / n, 0.0)
    denom = np.sqrt(i_energy * t_energy)
    # Flat image areas (no variance) cannot match a textured template.
    out = np.where(denom > 1e-6 * max(t_energy, 1.0), num / np.maximum(denom, 1e-12), 0.0)
    return np.clip(out, -1.0, 1.0)


def template_std(template: np.ndarray, mask: np.ndarray | None = None) -> float:
    """The grey-level spread of a template's opaque pixels (too flat a template cannot be searched for)."""
    t = np.asarray(template, np.float64)
    m = np.ones_like(t, bool) if mask is None else np.asarray(mask) > 0
    return float(t[m].std()) if m.any() else 0.0


def find_template(frame: np.ndarray, template_rgba: np.ndarray, low: float = 0.08, high: float = 0.5,
                  steps: int = 12) -> tuple[float, tuple[int, int, int, int] | None]:
    """The best masked-NCC score of an RGBA (or RGB) template in an RGB frame, and where (x, y, w, h).

    1. grey NCC at template heights from `low` to `high` of the frame's short side in `steps` geometric
       steps, then +-4% and +-8% around the best; both pictures are blurred in proportion to the
       template's size, which widens the score's peak over scale (unblurred, a logo 3% off its size
       scored ~0.6; blurred, ~0.9);
    2. at the best size, the colours must agree too (mean per-channel NCC >= COLOUR_AGREE), else that is
       the score: grey alone matched a plain white square on red to a gold-and-white logo at 0.84, colour
       at 0.42. Colour is a veto, not the score, because 4:2:0 video halves the colour resolution: the
       same logo 18 px tall in an encoded frame scored 0.73 in colour and over 0.9 in grey."""
    frame = np.asarray(frame)
    tpl = np.asarray(template_rgba)
    alpha = tpl[..., 3] if tpl.ndim == 3 and tpl.shape[2] == 4 else np.full(tpl.shape[:2], 255, np.uint8)
    frame_g, tpl_g = gray(frame), gray(tpl)
    short = min(frame_g.shape)

    def sized(rel: float) -> tuple[int, int, np.ndarray] | None:
        h = round(short * rel)
        w = round(h * tpl.shape[1] / tpl.shape[0])
        if min(h, w) < MIN_TEMPLATE_PX or h > frame_g.shape[0] or w > frame_g.shape[1]:
            return None
        return h, w, resize(alpha.astype(np.float32), h, w) > 127

    def grey_at(rel: float) -> float:
        size = sized(rel)
        if size is None:
            return -1.0
        h, w, m = size
        t = resize(tpl_g, h, w)
        if template_std(t, m) < MIN_TEMPLATE_STD:
            return -1.0
        sigma = max(1.0, h / 12)
        scores = masked_ncc(_blur(frame_g, sigma), _blur(t, sigma), m)
        return float(scores.max()) if scores.size else -1.0

    coarse = {rel: grey_at(rel) for rel in np.geomspace(low, high, steps)}
    best = max(coarse, key=lambda r: coarse[r])
    scores = coarse | {rel: grey_at(rel) for rel in best * np.array([0.92, 0.96, 1.04, 1.08])}
    best = max(scores, key=lambda r: scores[r])
    if scores[best] < COLOUR_AGREE:
        return max(scores[best], 0.0), None
    colour, where = _colour_score(frame, tpl, sized(best))
    return (scores[best], where) if colour >= COLOUR_AGREE else (colour, where)


COLOUR_AGREE = 0.6  # the per-channel NCC a grey match needs to count (and the grey score worth checking)


def _colour_score(frame: np.ndarray, tpl: np.ndarray, size: tuple[int, int, np.ndarray] | None) -> tuple[float, tuple[int, int, int, int] | None]:
    """The mean per-channel masked NCC at one template size (channels flat in the template are left out)."""
    if size is None:
        return 0.0, None
    h, w, m = size
    sigma = max(1.0, h / 12)
    maps = []
    for c in range(3):
        t = resize(tpl[..., c].astype(np.float32), h, w)
        if template_std(t, m) >= MIN_TEMPLATE_STD:
            maps.append(masked_ncc(_blur(frame[..., c].astype(np.float32), sigma), _blur(t, sigma), m))
    if not maps or not maps[0].size:
        return 0.0, None
    scores = np.mean(maps, axis=0)
    y, x = np.unravel_index(int(scores.argmax()), scores.shape)
    return max(float(scores.max()), 0.0), (int(x), int(y), w, h)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(image, sigma)


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
