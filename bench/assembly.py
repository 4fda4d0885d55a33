"""Bench: `assemble_cut` against one hand-written ffmpeg filter graph making the same cut.

    python bench/assembly.py            # 30 s at 1080p (inputs cached under out/bench-assembly)
    python bench/assembly.py --quick    # 8 s at 720p

Inputs (animatic takes, synth music and effects, espeak voice when installed) are made before the
timed part. Both sides get the same takes, captions, end card text, sounds and encoder settings
(libx264 veryfast CRF 20, AAC 192k, +faststart); the reference uses concat + drawtext captions +
a drawtext end card + amix + loudnorm. The issue's target: assemble_cut <= 2x the reference.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.assembly.captions import load_font, safe_box, wrap  # noqa: E402
from agent.assembly.cut import CutSpec, assemble_cut, dimensions, probe  # noqa: E402
from agent.plan import EndCard, Music, Plan, Shot, frame_counts  # noqa: E402
from generators.audio_synth import SynthAudio  # noqa: E402
from generators.base import ShotRequest, SoundRequest  # noqa: E402
from generators.fonts import default_face  # noqa: E402
from generators.video_animatic import AnimaticVideo  # noqa: E402

FONT = default_face(True).path  # the face the captions use (fontconfig's bold sans-serif)
PALETTE = ["#0B3C5D", "#F2C14E", "#F78154", "#4D9078"]
CAMERAS = ["push in", "pan left", "orbit", "tilt up", "pull out", "static"]
SOUNDS = ["whoosh", "fizz", "click", "chime", "pop", "impact"]
CAPTIONS = ["Wake up to something fresh", "Zero sugar. All sparkle.", "Cold from the first sip",
            "Made with real fruit", "Six flavours to love", "Find it at your corner store"]


def make_plan(seconds: float, shots: int) -> Plan:
    """A plan of `shots` equal shots and a 3 s (or a fifth) end card filling `seconds`."""
    end = round(min(3.0, seconds / 5), 2)
    each = round((seconds - end) / shots, 3)
    items = [Shot(index=i, role="product" if i == 1 else "scene", description=f"Shot {i + 1}",
                  prompt=f"storyboard shot {i + 1}: sparkling water, kitchen, morning light", seconds=each,
                  camera=CAMERAS[i % 6], sound=SOUNDS[i % 6], caption=CAPTIONS[i % 6], voice_line="")
             for i in range(shots)]
    end = round(seconds - each * shots, 3)
    return Plan(segment="bench", shots=items, music=Music(mood="uplifting"),
                end_card=EndCard(seconds=end, headline="Sparkle every day", call_to_action="Shop now"))


def make_inputs(plan: Plan, width: int, height: int, fps: int, folder: Path) -> dict:
    """Render (or reuse) one animatic take and one effect per shot, and the music bed."""
    folder.mkdir(parents=True, exist_ok=True)
    video, audio = AnimaticVideo(), SynthAudio()
    takes, effects = [], []
    for shot in plan.shots:
        take = folder / f"shot{shot.index}_{width}x{height}_{shot.seconds}.mp4"
        if not take.exists():
            video.render(ShotRequest(prompt=shot.prompt, seconds=shot.seconds, fps=fps, width=width, height=height,
                                     seed=shot.index, camera=shot.camera, title=shot.description, palette=PALETTE,
                                     shot_index=shot.index), take)
        fx = folder / f"fx{shot.index}_{shot.seconds}.wav"
        audio.render(SoundRequest(prompt=shot.sound, seconds=shot.seconds, kind="effect", seed=shot.index), fx)
        takes.append(take)
        effects.append(fx)
    cuts = [sum(s.seconds for s in plan.shots[: i + 1]) for i in range(len(plan.shots))]
    music = folder / f"music_{plan.seconds}.wav"
    audio.render(SoundRequest(prompt="bed", seconds=plan.seconds, mood="uplifting", cut_points=cuts), music)
    return {"takes": takes, "effects": effects, "music": music}


def reference_command(plan: Plan, inputs: dict, width: int, height: int, fps: int, out: Path,
                      folder: Path) -> list[str]:
    """One ffmpeg command for the same cut: concat + drawtext captions + end card + amix + loudnorm."""
    import imageio_ffmpeg

    counts = frame_counts([s.seconds for s in plan.shots] + [plan.end_card.seconds], fps)
    x0, y0, x1, y1 = safe_box("16:9", width, height)
    size = round(0.052 * min(width, height))
    font = load_font(size, True)
    args, graph = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-hide_banner", "-loglevel", "error"], []
    for take in inputs["takes"]:
        args += ["-i", str(take)]
    for i, (shot, n) in enumerate(zip(plan.shots, counts, strict=False)):
        text = folder / f"caption{i}.txt"
        text.write_text("\n".join(wrap(shot.caption, font, (x1 - x0) * 0.92)))
        graph.append(f"[{i}:v]tpad=stop_mode=clone:stop=2,trim=end_frame={n},setpts=PTS-STARTPTS,scale={width}:{height},format=yuv420p,"
                     f"drawtext=fontfile={FONT}:textfile={text}:fontsize={size}:fontcolor=white:box=1:"
                     f"boxcolor=black@0.6:boxborderw={size // 3}:x=(w-text_w)/2:y={y1}-text_h-{size // 3}:"
                     f"shadowx=2:shadowy=2[v{i}]")
    card = plan.end_card
    unit = min(width, height)
    graph.append(f"color=c=0x{PALETTE[0][1:]}:s={width}x{height}:r={fps}:d={counts[-1] / fps},format=yuv420p,"
                 f"drawtext=fontfile={FONT}:text='Fizzo':fontsize={int(unit * 0.11)}:fontcolor=white:"
                 f"x=(w-text_w)/2:y=h*0.36,"
                 f"drawtext=fontfile={FONT}:text='{card.headline}':fontsize={int(unit * 0.055)}:fontcolor=white:"
                 f"x=(w-text_w)/2:y=h*0.5,"
                 f"drawtext=fontfile={FONT}:text='{card.call_to_action}':fontsize={int(unit * 0.055)}:"
                 f"fontcolor=black:box=1:boxcolor=0x{PALETTE[1][1:]}:boxborderw={int(unit * 0.03)}:"
                 f"x=(w-text_w)/2:y=h*0.62[vend]")
    n = len(plan.shots)
    graph.append("".join(f"[v{i}]" for i in range(n)) + f"[vend]concat=n={n + 1}:v=1:a=0[v]")
    args += ["-i", str(inputs["music"])]
    starts = [sum(counts[:i]) / fps for i in range(n)]
    for i, fx in enumerate(inputs["effects"]):
        args += ["-i", str(fx)]
        graph.append(f"[{n + 1 + i}:a]adelay={round(starts[i] * 1000)}:all=1[a{i}]")
    total = sum(counts) / fps
    graph.append(f"[{n}:a]volume=0.6[music];[music]" + "".join(f"[a{i}]" for i in range(n))
                 + f"amix=inputs={n + 1}:duration=first:normalize=0,loudnorm=I=-14:TP=-2:LRA=11,"
                 f"aresample=48000,atrim=end={total}[a]")
    return args + ["-filter_complex", ";".join(graph), "-map", "[v]", "-map", "[a]",
                   "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
                   "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-movflags", "+faststart", str(out)]


def time_reference(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - started


def time_assembly(spec: CutSpec, base: Path) -> float:
    started = time.perf_counter()
    assemble_cut(spec, base)
    return time.perf_counter() - started


def main() -> None:
    """Time both ways side by side and print realtime factors and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 s at 720p instead of 30 s at 1080p")
    parser.add_argument("--repeat", type=int, default=1, help="alternate runs per side; the best is kept")
    parser.add_argument("--out", type=Path, default=Path("out/bench-assembly"))
    args = parser.parse_args()
    seconds, resolution, shots, fps = (8.0, 720, 3, 24) if args.quick else (30.0, 1080, 6, 24)
    width, height = dimensions("16:9", resolution)
    plan = make_plan(seconds, shots)
    print(f"cut: {seconds:g} s, {width}x{height} @ {fps} fps, {shots} shots + end card", flush=True)
    started = time.perf_counter()
    inputs = make_inputs(plan, width, height, fps, args.out / "inputs")
    print(f"inputs ready in {time.perf_counter() - started:.1f} s (not timed)", flush=True)
    spec = CutSpec(plan=plan, aspect_ratio="16:9", width=width, height=height, fps=fps,
                   shot_videos=inputs["takes"], shot_native=[True] * shots, shot_effects=inputs["effects"],
                   shot_voice=[None] * shots, music=inputs["music"], brand_name="Fizzo", palette=PALETTE,
                   provenance={"bench": True})
    ref_out = args.out / "reference.mp4"
    cmd = reference_command(plan, inputs, width, height, fps, ref_out, args.out)
    ours, ref = [], []
    for _ in range(args.repeat):
        ref.append(time_reference(cmd))
        ours.append(time_assembly(spec, args.out / "briefcut"))
    a, r = probe(args.out / "briefcut.mp4"), probe(ref_out)
    print(f"reference ffmpeg graph: {min(ref):6.2f} s  ({seconds / min(ref):.2f}x realtime)  "
          f"{r['video_frames']} frames, audio {r['audio_duration_s']:.3f} s")
    print(f"assemble_cut:           {min(ours):6.2f} s  ({seconds / min(ours):.2f}x realtime)  "
          f"{a['video_frames']} frames, audio {a['audio_duration_s']:.3f} s")
    ratio = min(ours) / min(ref)
    print(f"ratio assemble_cut / ffmpeg = {ratio:.2f}x  (target <= 2.00x: {'met' if ratio <= 2 else 'MISSED'})")
    if shutil.which("nproc"):
        print(f"cpus: {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
