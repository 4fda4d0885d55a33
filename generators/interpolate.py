"""Motion-compensated frame interpolation with ffmpeg's `minterpolate` (the ffmpeg imageio-ffmpeg ships).

Families that render at 8 fps (CogVideoX, AnimateDiff) are retimed to the cut's 24-30 fps; repeating
frames makes two of every three output frames copies, which reads as judder and as a frozen picture.
`minterpolate` estimates block motion between neighbouring frames and synthesises the frames in
between (bidirectional motion estimation, overlapped-block motion compensation); at output times that
fall on an input frame it gives that frame back unchanged.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction

import numpy as np

# mci: motion-compensated interpolation; aobmc: adaptive overlapped block motion compensation;
# bidir: motion searched both ways; vsbmc: variable-size blocks. ffmpeg's filter documentation.
MINTERPOLATE = "mi_mode=mci:mc_mode=aobmc:me_mode=bidir:vsbmc=1"
TIMEOUT_S = 600
MIN_SIDE = 32  # minterpolate refuses smaller frames: smaller ones are edge-padded, then cropped back


def ffmpeg_exe() -> str:
    """The ffmpeg binary imageio-ffmpeg ships (a system ffmpeg when that package is missing)."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        import shutil

        exe = shutil.which("ffmpeg")
        if exe is None:
            raise RuntimeError("no ffmpeg found: pip install imageio-ffmpeg") from None
        return exe


def motion_interpolate(frames: np.ndarray, src_fps: Fraction, dst_fps: int, n_out: int) -> np.ndarray:
    """Exactly `n_out` uint8 frames [n_out,H,W,3] at `dst_fps` from `frames` shown at `src_fps`.

    Output frame k is at time k / dst_fps. Times past the last input frame hold it (the clip is padded
    with copies of its last frame, as retiming by position does).
    """
    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    n, h, w, _ = frames.shape
    if n == 1:
        return np.repeat(frames, n_out, axis=0)
    if h < MIN_SIDE or w < MIN_SIDE:
        padded = np.pad(frames, ((0, 0), (0, max(0, MIN_SIDE - h)), (0, max(0, MIN_SIDE - w)), (0, 0)), mode="edge")
        return motion_interpolate(padded, src_fps, dst_fps, n_out)[:, :h, :w]
    # pad with the last frame so the filter covers every output time up to n_out
    needed = int(np.ceil(n_out / dst_fps * float(src_fps))) + 2
    if needed > n:
        frames = np.concatenate([frames, np.repeat(frames[-1:], needed - n, axis=0)])
    cmd = [ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-r", f"{src_fps.numerator}/{src_fps.denominator}", "-i", "-",
           "-vf", f"minterpolate=fps={dst_fps}:{MINTERPOLATE}", "-frames:v", str(n_out),
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    done = subprocess.run(cmd, input=frames.tobytes(), capture_output=True, timeout=TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg minterpolate failed: {done.stderr.decode(errors='replace').strip()[:300]}")
    out = np.frombuffer(done.stdout, np.uint8).reshape(-1, h, w, 3)
    if len(out) < n_out:  # the filter can end a frame or two early: hold the last one
        out = np.concatenate([out, np.repeat(out[-1:], n_out - len(out), axis=0)])
    return out[:n_out]
