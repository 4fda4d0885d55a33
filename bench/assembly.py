"""Bench: `assemble_cut` against one ffmpeg filter graph making the same cut, or the preview target.

The preview target (issue 19): a 30 s 9:16 720p cut's assembly realtime factor, encoded as before (x264
veryfast) and with the preview profile's encoder (agent.assembly.encoder), side by side.

    python bench/assembly.py               # 30 s at 1080p 16:9 against the ffmpeg graph (target <= 2x)
    python bench/assembly.py --quick       # 8 s at 720p
    python bench/assembly.py --preview     # 30 s 9:16 720p from motion takes: veryfast against the preview encoder

Inputs (animatic or motion takes, synth music and effects) are made before the timed part. Against the
reference both sides get the same takes, captions, end card text, sounds and encoder settings (libx264
veryfast CRF 20, AAC 192k, +faststart); the reference uses concat + drawtext captions + a drawtext end card
+ amix + loudnorm. --preview makes the cut the preview profile makes: motion takes at the cut's size, their
captions set as kinetic type by assembly (each take's type layer), the invisible watermark on; "veryfast" encodes it x264 veryfast CRF 20 (every
profile before the encoder was a setting, and still smoke and gpu), "preview" with the preview profile's
encoder. After the timed rounds the same cut is encoded losslessly (x264 CRF 0) and each side's cut is
compared with it: size, PSNR and SSIM (ffmpeg's psnr and ssim filters), so the trade is in view.

Every side runs --repeat times (default 3), in a rotated order each round, each a whole assembly into a
scratch folder (no chunk reused). Printed: the median and spread (min-max) of wall seconds, of the realtime
factor (seconds of cut per second of assembly), of CPU seconds (this process and its ffmpeg children) and
of the ratio to the first side in the same round; the load average before and after (the cores are shared:
on a busy machine the CPU seconds, and the realtime factor they allow on 2 idle cores, are the steadier
numbers).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.assembly.captions import load_font, safe_box, wrap  # noqa: E402
from agent.assembly.cut import CutSpec, assemble_cut, dimensions, probe  # noqa: E402
from agent.assembly.encoder import Encoder, profile_encoder  # noqa: E402
from agent.plan import EndCard, Music, Plan, Shot, frame_counts  # noqa: E402
from agent.provenance.watermark import cut_key  # noqa: E402
from generators.audio_synth import SynthAudio  # noqa: E402
from generators.base import VIDEO, ShotRequest, SoundRequest  # noqa: E402
from generators.fonts import default_face  # noqa: E402

ASSETS = Path(__file__).resolve().parents[1] / "briefs" / "assets"
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


def make_inputs(plan: Plan, width: int, height: int, fps: int, folder: Path, backend: str = "animatic") -> dict:
    """Render (or reuse) one take per shot with `backend` (animatic or motion), one effect per shot, and the
    music bed."""
    folder.mkdir(parents=True, exist_ok=True)
    video, audio = VIDEO.create(backend), SynthAudio()
    takes, effects = [], []
    for shot in plan.shots:
        take = folder / f"{backend}{shot.index}_{width}x{height}_{shot.seconds}.mp4"
        if not take.exists():
            video.render(shot_request(shot, width, height, fps, backend), take)
        fx = folder / f"fx{shot.index}_{shot.seconds}.wav"
        audio.render(SoundRequest(prompt=shot.sound, seconds=shot.seconds, kind="effect", seed=shot.index), fx)
        takes.append(take)
        effects.append(fx)
    cuts = [sum(s.seconds for s in plan.shots[: i + 1]) for i in range(len(plan.shots))]
    music = folder / f"music_{plan.seconds}.wav"
    audio.render(SoundRequest(prompt="bed", seconds=plan.seconds, mood="uplifting", cut_points=cuts), music)
    layers = [type_layer(shot_request(s, width, height, fps, backend)) if backend == "motion" else None
              for s in plan.shots]  # fmt: skip
    return {"takes": takes, "effects": effects, "music": music, "type_layers": layers}


def type_layer(request: ShotRequest) -> dict:
    """The type layer a motion take of `request` records (its design, made again: a kept take is reused)."""
    from generators.video_motion import Design

    return Design(request).type_layer.record()


def shot_request(shot: Shot, width: int, height: int, fps: int, backend: str) -> ShotRequest:
    """What the take is rendered from; the motion backend also gets the brand's assets and the caption (its
    take records the type layer assembly sets the caption in as kinetic type)."""
    brand: dict[str, Any] = {}
    if backend == "motion":
        brand = {"role": shot.role, "caption": shot.caption, "shows_product": shot.role == "product",
                 "product_name": "Fizzo Sparkling", "product_image": ASSETS / "lumen-bottle.png",
                 "brand_name": "Fizzo", "logo": ASSETS / "lumen-logo.png"}  # fmt: skip
    return ShotRequest(prompt=shot.prompt, seconds=shot.seconds, fps=fps, width=width, height=height, seed=shot.index,
                       camera=shot.camera, title=shot.description, palette=PALETTE, shot_index=shot.index, **brand)


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


# Quality of the --preview sides -------------------------------------------------------------------


def quality(cut: Path, reference: Path) -> dict[str, float]:
    """PSNR (dB) and SSIM of a cut's frames against the same cut encoded losslessly (ffmpeg's psnr and ssim
    filters; both start at 0 so the frames pair up), and its size."""
    import imageio_ffmpeg

    graph = "[0:v]setpts=PTS-STARTPTS[a];[1:v]setpts=PTS-STARTPTS[b];[a]split[a1][a2];[b]split[b1][b2];" \
            "[a1][b1]psnr;[a2][b2]ssim"
    err = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(cut), "-i",
                          str(reference), "-lavfi", graph, "-f", "null", "-"], capture_output=True, text=True,
                         check=True).stderr  # fmt: skip
    psnr = re.search(r"PSNR y:([\d.]+) .*average:([\d.]+)", err)
    ssim = re.search(r"SSIM Y:([\d.]+) .*All:([\d.]+)", err)
    if psnr is None or ssim is None:
        raise RuntimeError(f"ffmpeg printed no PSNR/SSIM comparing {cut} with {reference}: {err[-400:]}")
    return {"mb": cut.stat().st_size / 1e6, "psnr_y": float(psnr[1]), "psnr": float(psnr[2]),
            "ssim_y": float(ssim[1]), "ssim": float(ssim[2])}


# Timing ----------------------------------------------------------------------------------------------


def cpu_seconds() -> float:
    """CPU seconds used so far by this process and its waited-for children (the ffmpeg encoders)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def forget_kept_work() -> None:
    """Clear what assembly keeps per process (captions laid out, end cards, kinetic type, line breaks, takes'
    sizes, the watermark's bounds, the contact sheet's glyphs), so every timed assembly does that work as a
    new process would."""
    from agent.assembly.caption_track import _caption_cues
    from agent.assembly.captions import _end_card
    from agent.assembly.stills import _glyph
    from agent.assembly.timeline import _take_info
    from agent.provenance.watermark import _bounds
    from generators.kinetic import _set_caption
    from generators.text import _break_units

    for kept in (_caption_cues, _end_card, _set_caption, _break_units, _take_info, _bounds, _glyph):
        kept.cache_clear()


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call, nothing kept from an earlier one."""
    forget_kept_work()
    wall, cpu = time.perf_counter(), cpu_seconds()
    work()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def rounds(sides: dict[str, Callable[[], object]], repeat: int) -> dict[str, list[tuple[float, float]]]:
    """Every side `repeat` times, the order rotated each round so no side always runs first (or warmest)."""
    names, runs = list(sides), {name: [] for name in sides}
    for r in range(repeat):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            runs[name].append(timed(sides[name]))
        print(f"round {r + 1}: " + "  ".join(f"{n} {runs[n][-1][0]:.2f} s" for n in names), flush=True)
    return runs


def spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def report(runs: dict[str, list[tuple[float, float]]], seconds: float) -> dict[str, float]:
    """Print each side's wall s, realtime factor, CPU s and ratio to the first side (per round); return the
    median ratio of each side to the first."""
    first = next(iter(runs))
    print(f"\nmedian (min-max) of {len(runs[first])} rounds")
    print(f"{'':<16}{'wall s':>22}{'x realtime':>22}{'cpu s':>22}{'ratio to ' + first:>26}")
    ratios = {}
    for name, values in runs.items():
        walls, cpus = [w for w, _ in values], [c for _, c in values]
        per_round = [w / f for (w, _), (f, _) in zip(values, runs[first], strict=True)]
        ratios[name] = statistics.median(per_round)
        print(f"{name:<16}{spread(walls, '.2f'):>22}{spread([seconds / w for w in walls], '.2f'):>22}"
              f"{spread(cpus, '.1f'):>22}{spread(per_round, '.2f'):>26}")  # fmt: skip
    return ratios


def load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} cpus"


# Modes -----------------------------------------------------------------------------------------------


def spec_for(plan: Plan, inputs: dict, aspect: str, width: int, height: int, fps: int, preview: bool) -> CutSpec:
    """The cut both sides make; --preview: the captions are the motion takes' kinetic type (drawn by assembly
    in each take's type layer) and the watermark is on."""
    shots = len(plan.shots)
    return CutSpec(plan=plan, aspect_ratio=aspect, width=width, height=height, fps=fps,
                   shot_videos=inputs["takes"], shot_native=[True] * shots, shot_effects=inputs["effects"],
                   shot_voice=[None] * shots, shot_type_layers=inputs["type_layers"] if preview else [],
                   music=inputs["music"],
                   brand_name="Fizzo", palette=PALETTE, provenance={"bench": True},
                   watermark=cut_key("bench") if preview else None)  # fmt: skip


def against_reference(plan: Plan, inputs: dict, spec: CutSpec, out: Path, repeat: int) -> None:
    """assemble_cut against one ffmpeg filter graph making the same cut (target <= 2x its time)."""
    ref_out = out / "reference.mp4"
    cmd = reference_command(plan, inputs, spec.width, spec.height, spec.fps, ref_out, out)
    runs = rounds({"ffmpeg graph": lambda: subprocess.run(cmd, check=True),
                   "assemble_cut": lambda: assemble_cut(spec, out / "briefcut")}, repeat)  # fmt: skip
    a, r = probe(out / "briefcut.mp4"), probe(ref_out)
    print(f"reference: {r['video_frames']} frames, audio {r['audio_duration_s']:.3f} s; "
          f"assemble_cut: {a['video_frames']} frames, audio {a['audio_duration_s']:.3f} s")
    ratio = report(runs, plan.seconds)["assemble_cut"]
    print(f"ratio assemble_cut / ffmpeg = {ratio:.2f}x  (target <= 2.00x: {'met' if ratio <= 2 else 'MISSED'})")


def preview_target(spec: CutSpec, out: Path, repeat: int) -> None:
    """The preview cut encoded as before (veryfast) and with the preview profile's encoder, side by side, with
    each one's quality against the cut encoded losslessly (target: the profile's >= 3x realtime)."""
    sides = {"veryfast": Encoder(preset="veryfast"), "preview": profile_encoder("preview")}
    specs = {name: spec.model_copy(update=enc.model_dump()) for name, enc in sides.items()}
    runs = rounds({name: lambda name=name: assemble_cut(specs[name], out / name) for name in sides}, repeat)
    seconds = spec.plan.seconds
    ratios = report(runs, seconds)
    reference = out / "lossless"
    assemble_cut(spec.model_copy(update={"preset": "ultrafast", "crf": 0}), reference)  # x264 CRF 0: lossless
    print(f"\n{'':<16}{'encoder':>22}{'MB':>8}{'Mbit/s':>8}{'PSNR Y':>9}{'PSNR':>8}{'SSIM Y':>9}{'SSIM':>9}"
          f"  (against the lossless cut)")
    for name, enc in sides.items():
        q = quality(out / f"{name}.mp4", reference.with_suffix(".mp4"))
        print(f"{name:<16}{f'x264 {enc.preset} CRF {enc.crf}':>22}{q['mb']:>8.2f}{q['mb'] * 8 / seconds:>8.2f}"
              f"{q['psnr_y']:>9.2f}{q['psnr']:>8.2f}{q['ssim_y']:>9.4f}{q['ssim']:>9.4f}")
    rtf = statistics.median(seconds / w for w, _ in runs["preview"])
    bound = seconds / (statistics.median(c for _, c in runs["preview"]) / 2)
    print(f"\npreview / veryfast wall = {ratios['preview']:.2f}; preview realtime factor {rtf:.2f}x "
          f"(target >= 3.00x on 2 cores: {'met' if rtf >= 3 else 'MISSED'}); with 2 idle cores at best "
          f"{bound:.2f}x (cut seconds per CPU second x 2)")


def main() -> None:
    """Time the sides alternately and print medians, spreads and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 s at 720p instead of 30 s at 1080p")
    parser.add_argument("--preview", action="store_true", help="the preview target: 30 s 9:16 720p, encoded as "
                        "before (veryfast) and with the preview profile's encoder")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="rounds; every side runs once per round")
    parser.add_argument("--preset", default=CutSpec.model_fields["preset"].default,
                        help="x264 preset of assemble_cut's chunks (the reference graph keeps veryfast; "
                        "--preview compares its own two)")
    parser.add_argument("--out", type=Path, default=Path("out/bench-assembly"))
    args = parser.parse_args()
    seconds, resolution, shots, fps = (8.0, 720, 3, 24) if args.quick else (30.0, 1080, 6, 24)
    aspect, backend = ("9:16", "motion") if args.preview else ("16:9", "animatic")
    if args.preview:
        seconds, resolution, shots = 30.0, 720, 6
    width, height = dimensions(aspect, resolution)
    plan = make_plan(seconds, shots)
    print(f"cut: {seconds:g} s, {aspect} {width}x{height} @ {fps} fps, {shots} {backend} shots + end card; "
          f"x264 {args.preset}", flush=True)
    started = time.perf_counter()
    inputs = make_inputs(plan, width, height, fps, args.out / "inputs", backend)
    print(f"inputs ready in {time.perf_counter() - started:.1f} s (not timed); {load()}", flush=True)
    spec = spec_for(plan, inputs, aspect, width, height, fps, args.preview).model_copy(update={"preset": args.preset})
    if args.preview:
        preview_target(spec, args.out, args.repeat)
    else:
        against_reference(plan, inputs, spec, args.out, args.repeat)
    print(load())


if __name__ == "__main__":
    main()
