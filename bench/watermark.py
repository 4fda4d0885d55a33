"""Watermark robustness: bit accuracy of the frame watermark after the attacks a cut meets on its way.

Marks a cut (the example bumper rendered by the preview profile, or any MP4 given with --video) the
way assembly does, encodes it as delivered (x264 CRF 20), then reads the mark back after each attack:
H.264 re-encoding at CRF 23 and 28, scaling to half size, a 10% crop (5% off each side, kept at that
size), the crop scaled back to full size, and a half-size re-encode at CRF 28. Prints one table: bit
accuracy (of 48 bits: a 32-bit key and its CRC-16), whether the key was recovered (CRC), the scale found, the peak's z-score, and the
picture's PSNR against the unmarked delivery.

    python bench/watermark.py [--video FILE] [--seconds 4]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from agent.provenance import watermark as wm  # noqa: E402

KEY = wm.cut_key("bench cut")


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def source_video(tmp: Path, seconds: float, resolution: int) -> Path:
    """A real cut from the preview profile (the bumper brief, 16:9), unmarked."""
    from agent.brief import load_brief
    from agent.runner import start_run
    from agent.settings import Overrides
    from agent.workspace import Workspace

    brief = load_brief(ROOT / "briefs" / "bumper.yaml").model_copy(update={"watermark": False})
    with Workspace.at(tmp / "ws") as ws:
        result = start_run(ROOT / "briefs" / "bumper.yaml", ws, brief=brief, overrides=Overrides(
            profile="preview", resolution=resolution, formats=["16:9"], variants=1), out=tmp / "cut")
    cut = Path(result["cuts"][0]["path"])
    out = tmp / "source.mp4"
    run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(cut), "-t", str(seconds), "-an", "-c:v", "libx264",
         "-crf", "10", "-pix_fmt", "yuv420p", str(out)])
    return out


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def decode_yuv(path: Path) -> tuple[list[np.ndarray], int, int, float]:
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [f.reformat(format="yuv420p").to_ndarray() for f in c.decode(s)]
        return frames, s.codec_context.width, s.codec_context.height, float(s.average_rate)


def encode_yuv(frames: list[np.ndarray], w: int, h: int, fps: float, out: Path, crf: int = 20) -> None:
    proc = subprocess.Popen([ffmpeg(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p",
                             "-video_size", f"{w}x{h}", "-framerate", str(fps), "-i", "pipe:0", "-c:v", "libx264",
                             "-preset", "veryfast", "-crf", str(crf), "-pix_fmt", "yuv420p", str(out)],
                            stdin=subprocess.PIPE)
    for f in frames:
        proc.stdin.write(f.tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("ffmpeg failed")


ATTACKS = {
    "as delivered (CRF 20)": [],
    "H.264 re-encode CRF 23": ["-c:v", "libx264", "-crf", "23"],
    "H.264 re-encode CRF 28": ["-c:v", "libx264", "-crf", "28"],
    "scaled to half size": ["-vf", "scale=iw/2:ih/2", "-c:v", "libx264", "-crf", "23"],
    "10% crop (5% each side)": ["-vf", "crop=trunc(iw*0.9/2)*2:trunc(ih*0.9/2)*2", "-c:v", "libx264", "-crf", "23"],
    "10% crop, scaled back": ["-vf", "crop=trunc(iw*0.9/2)*2:trunc(ih*0.9/2)*2,scale=trunc(iw/0.9/2)*2:-2",
                              "-c:v", "libx264", "-crf", "23"],
    "half size + CRF 28": ["-vf", "scale=iw/2:ih/2", "-c:v", "libx264", "-crf", "28"],
}


def psnr(a: list[np.ndarray], b: list[np.ndarray], h: int) -> float:
    mse = np.mean([np.mean((x[:h].astype(float) - y[:h].astype(float)) ** 2) for x, y in zip(a, b, strict=True)])
    return float(10 * np.log10(255**2 / max(mse, 1e-9)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--resolution", type=int, default=360, help="short side of the preview cut")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="briefcut-wm-bench-") as tmp_name:
        tmp = Path(tmp_name)
        src = args.video or source_video(tmp, args.seconds, args.resolution)
        frames, w, h, fps = decode_yuv(src)
        marked = list(wm.embed(frames, KEY, w, h))
        delivered = tmp / "delivered.mp4"
        encode_yuv(marked, w, h, fps, delivered)
        plain = tmp / "plain.mp4"
        encode_yuv(frames, w, h, fps, plain)
        print(f"source {src.name if args.video else 'preview bumper cut'}: {w}x{h}, {len(frames)} frames; key {KEY}; "
              f"PSNR marked vs unmarked frames {psnr(frames, marked, h):.1f} dB")
        print(f"{'attack':<26} {'bit acc.':>8} {'key':>9} {'scale':>6} {'peak z':>7} {'read s':>7}")
        for name, cmd in ATTACKS.items():
            attacked = delivered if not cmd else tmp / "attacked.mp4"
            if cmd:
                run([ffmpeg(), "-y", "-loglevel", "error", "-i", str(delivered), *cmd, "-pix_fmt", "yuv420p", str(attacked)])
            started = time.perf_counter()
            reading = wm.read_video(str(attacked))
            took = time.perf_counter() - started
            print(f"{name:<26} {wm.bit_accuracy(reading, KEY):>8.1%} {'found' if reading.payload == KEY else 'LOST':>9} "
                  f"{reading.scale:>6.3f} {reading.peak_z:>7.1f} {took:>7.1f}")
        control = wm.read_video(str(plain))
        print(f"{'unmarked control':<26} {wm.bit_accuracy(control, KEY):>8.1%} "
              f"{'false hit' if control.found else 'none':>9} {control.scale:>6.3f} {control.peak_z:>7.1f}")


if __name__ == "__main__":
    main()
