"""Bench: the ad checks of an edited cut, reading the whole MP4 against reading only the chunks not read before.

A bumper-like cut (1:1, 720 px, 30 fps, three captioned shots with moving pictures, a crossfade, a 1.5 s end
card, the watermark on) is assembled with its chunks kept, its checks run (every chunk's answer kept), then a
second cut differing in one caption (one new chunk; --edit take: the first shot's take, two new chunks, as
when a take that sets its own caption is made again) is assembled into the same parts folder. Timed side by
side, in a rotated order each round, on that second cut:
  mp4      `ad_checks` with no chunk list: the whole delivered MP4 decoded (how every cut was read before)
  cold     `ad_checks` with no answer kept: every chunk decoded alone and its answer kept (a first run)
  edit     `ad_checks` reading the kept answers and decoding the one new chunk (its answers removed first)
  kept     `ad_checks` with every answer kept (the same cut's checks asked again)
and `read_evidence` alone the same three ways (the logo search, a check's part, is kept per chunk too). Printed: median and spread (min-max) of wall seconds and of the
ratio to `mp4` in the same round, and the load average before and after (the cores are shared).

    python bench/chunk_evidence.py [--resolution 720] [--rounds 5] [--edit caption|take]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(1, str(Path(__file__).resolve().parents[1] / "tests"))  # fixtures.media: the moving takes

from fixtures.media import moving_take  # noqa: E402

from agent.ad_checks import BRAND_WINDOW_S, ad_checks  # noqa: E402
from agent.ad_evidence import read_evidence  # noqa: E402
from agent.assembly.cut import CutResult, CutSpec, assemble_cut  # noqa: E402
from agent.plan import EndCard, Music, Plan, Shot  # noqa: E402
from agent.provenance.watermark import cut_key  # noqa: E402

FPS = 30
SECONDS = [1.5, 1.5, 1.5]
CAPTIONS = ["30 hours. Zero wires.", "Late nights, no limits", "Pulse Buds, out now"]
LOGO = Path(__file__).resolve().parents[1] / "briefs" / "assets" / "lumen-logo.png"


def bumper(folder: Path, side: int) -> CutSpec:
    """The bumper-like cut's spec, its takes written to `folder`."""
    shots = [Shot(index=i, role=["hook", "product", "cta"][i], description=f"s{i}", prompt=f"p{i}", seconds=s,
                  shows_product=i > 0, caption=CAPTIONS[i], transition="crossfade" if i == 1 else "cut")
             for i, s in enumerate(SECONDS)]  # fmt: skip
    plan = Plan(segment="gamers", shots=shots, music=Music(mood="driving"),
                end_card=EndCard(seconds=1.5, headline="30 hours. Zero wires.", call_to_action="Pulse Buds, out now"))
    takes = [moving_take(folder / f"take{i}.mp4", 80 * i, round(s * FPS), side, side, FPS) for i, s in enumerate(SECONDS)]
    return CutSpec(plan=plan, aspect_ratio="1:1", width=side, height=side, fps=FPS, shot_videos=takes,
                   shot_native=[True] * 3, shot_effects=[None] * 3, shot_voice=[None] * 3, music=None,
                   brand_name="Pulse Audio", palette=["#111111", "#FF3366", "#FFFFFF"], logo=LOGO,
                   watermark=cut_key("bench"))  # fmt: skip


def edit(spec: CutSpec, what: str, folder: Path) -> CutSpec:
    """The second cut: the first shot's caption changed (one new chunk), or its take (a take that sets its
    caption itself, made again: its chunk and the next one, which crossfades from it, are new)."""
    if what == "take":
        take = moving_take(folder / "take0-edited.mp4", 30, round(SECONDS[0] * FPS), spec.width, spec.width, FPS)
        return spec.model_copy(update={"shot_videos": [take, *spec.shot_videos[1:]]})
    shots = [s.model_copy(update={"caption": "Ready when you are"}) if s.index == 0 else s for s in spec.plan.shots]
    return spec.model_copy(update={"plan": spec.plan.model_copy(update={"shots": shots})})


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def sides(spec: CutSpec, cut: CutResult, new: list[Path]) -> dict[str, Callable[[], float]]:
    """Each way of reading the edited cut, as a function returning its wall seconds."""
    whole, every = cut.model_copy(update={"chunks": []}), [c.path for c in cut.chunks]

    def unread(chunks: list[Path], fn: Callable[[], object]) -> float:
        """Seconds of `fn` once these chunks' answers (evidence, logo scores) are gone."""
        for chunk in chunks:
            for file in [*chunk.parent.glob(f"{chunk.stem}.ev-*.npz"), *chunk.parent.glob(f"{chunk.stem}.logo-*.json")]:
                file.unlink()
        return timed(fn)

    checks, evidence = (lambda: ad_checks(spec, cut)), (lambda: read_evidence(spec, cut, BRAND_WINDOW_S))
    return {
        "checks mp4": lambda: timed(lambda: ad_checks(spec, whole)),
        "checks cold": lambda: unread(every, checks),
        "checks edit": lambda: unread(new, checks),
        "checks kept": lambda: timed(checks),
        "evidence mp4": lambda: timed(lambda: read_evidence(spec, whole, BRAND_WINDOW_S)),
        "evidence cold": lambda: unread(every, evidence),
        "evidence edit": lambda: unread(new, evidence),
        "evidence kept": lambda: timed(evidence),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=720)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--edit", choices=["caption", "take"], default="caption", help="what the second cut changes")
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="briefcut-bench-") as tmp:
        folder = Path(tmp)
        spec = bumper(folder, args.resolution)
        first = assemble_cut(spec, folder / "first" / "cut", parts=folder / "parts")
        ad_checks(spec, first)  # the first cut's checks: every chunk's answer kept
        edited = edit(spec, args.edit, folder)
        cut = assemble_cut(edited, folder / "second" / "cut", parts=folder / "parts")
        new = [c.path for c in cut.chunks if c.key not in {k.key for k in first.chunks}]
        ways = sides(edited, cut, new)
        for fn in ways.values():  # warm: imports, first-call caches
            fn()
        seconds: dict[str, list[float]] = {name: [] for name in ways}
        names = list(ways)
        for r in range(args.rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                seconds[name].append(ways[name]())
    print(f"{args.resolution} px 1:1 bumper-like cut, {cut.frames} frames in {len(cut.chunks)} chunks, "
          f"{len(new)} new after the {args.edit} edit; {args.rounds} rounds; load average before {load[0]:.2f}, "
          f"after {os.getloadavg()[0]:.2f} (2 shared cores)")  # fmt: skip
    for name, values in seconds.items():
        base = seconds[name.split()[0] + " mp4"]
        ratios = [v / b for v, b in zip(values, base, strict=True)]
        print(f"  {name:14s} {statistics.median(values):6.3f} s ({min(values):.3f}-{max(values):.3f})   "
              f"ratio to mp4 {statistics.median(ratios):5.2f} ({min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
