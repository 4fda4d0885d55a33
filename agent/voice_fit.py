"""Voice lines that fit their time: measured with the run's own voice, shortened by the planner first.

After planning, each voice line is spoken once with the run's voice backend and timed. A line
longer than its room (from its shot's start to the next voiced shot or the end card, less the
mix's lead and tail, at the mix's largest speed-up) is shortened by the planner: the template
planner cuts it at a clause or word deterministically, the LLM planner asks for a shorter line.
What still does not fit after that is sped up and trimmed by the mix, which warns.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from agent.assembly.audio_mix import MAX_SPEEDUP, VOICE_LEAD_S, VOICE_TAIL_S
from agent.plan import Plan
from agent.voices import voice_for
from generators.base import AudioTake
from generators.errors import BriefcutError

MAX_SHORTENINGS = 3
MARGIN = 0.92  # aim a little under the room: a shorter text is not exactly proportionally shorter


def voice_rooms(plan: Plan) -> dict[int, float]:
    """Seconds of speech each voiced shot can hold (at the mix's largest speed-up)."""
    starts, t = [], 0.0
    for shot in plan.shots:
        starts.append(t)
        t += shot.seconds
    voiced = [i for i, s in enumerate(plan.shots) if s.voice_line.strip()]
    rooms = {}
    for k, i in enumerate(voiced):
        end = starts[voiced[k + 1]] if k + 1 < len(voiced) else t
        rooms[i] = max(0.0, end - starts[i] - VOICE_LEAD_S - VOICE_TAIL_S) * MAX_SPEEDUP
    return rooms


def fit_voice_lines(ctx: Any, request: Any, plan: Plan) -> tuple[Plan, list[str]]:
    """The plan with voice lines shortened until they fit (or the planner can shorten no more); notes say what changed."""
    choice = ctx.choices.voice
    rooms = voice_rooms(plan)
    if choice is None or not rooms:
        return plan, []
    voice = voice_for(ctx.brief, request.segment)[0]
    shots, notes = list(plan.shots), []
    for i, room in rooms.items():
        text = shots[i].voice_line
        try:
            seconds = first = spoken_seconds(ctx, plan, i, text, voice)
            for _ in range(MAX_SHORTENINGS):
                if seconds <= room:
                    break
                shorter = ctx.planner.shorten_line(request, text, room / seconds * MARGIN).strip()
                if not shorter or len(shorter) >= len(text):
                    break
                text, seconds = shorter, spoken_seconds(ctx, plan, i, shorter, voice)
        except BriefcutError:  # the voice cannot speak it here: the render job says why
            continue
        if text != shots[i].voice_line:
            shots[i] = shots[i].model_copy(update={"voice_line": text})
            notes.append(f"{plan.key} shot {i + 1}: voice line shortened by the planner from {first:.1f} s "
                         f"to {seconds:.1f} s to fit {room:.1f} s: {text!r}")
    return plan.model_copy(update={"shots": shots}), notes


def spoken_seconds(ctx: Any, plan: Plan, shot: int, text: str, voice: str) -> float:
    """How long the run's voice takes to say `text`, rendered into the media cache under the key the
    voice job will ask for, so the line that is kept is not spoken twice."""
    from agent.render import _render_once, cache_key

    choice = ctx.choices.voice
    backend = ctx.pool.instance("voice", choice.backend, choice.options)
    request = {"text": text, "voice": voice}
    key = cache_key("voice", backend.identity(), request)
    row = {"id": f"{ctx.run_id}:fit:{key}", "cache_key": key, "run_id": ctx.run_id, "kind": "voice_fit",
           "plan_key": plan.key, "shot": shot, "shot_uid": "", "format": "", "take_no": 0, "round": 0, "lineage": 0,
           "backend": backend.name, "model": str(backend.describe().get("model", backend.name)), "seed": 0,
           "created_at": time.time()}  # fmt: skip
    done = ctx.store.get("takes", row["id"])
    if done and done["status"] == "done" and Path(done["path"] or "").exists():
        return sound_seconds(Path(done["path"]))  # measured before a crash or a resume: keep its record
    _render_once(ctx, key, row, ".wav", backend,
                 lambda out: AudioTake.model_validate(ctx.executor.render("voice", choice.backend, choice.options,
                                                                          request, out)),
                 {"request": request})  # fmt: skip
    return sound_seconds(Path(ctx.store.get("takes", row["id"])["path"]))


def sound_seconds(path: Path) -> float:
    """A WAV file's length in seconds."""
    import soundfile as sf

    return float(sf.info(str(path)).duration)


def fit_plan_voice(ctx: Any, request: Any, plan: Plan) -> Plan:
    """`fit_voice_lines`, its notes shown on stderr and kept as run events."""
    plan, notes = fit_voice_lines(ctx, request, plan)
    for note in notes:
        ctx.progress.note(note)
        ctx.store.event(ctx.run_id, "note", {"text": note})
    return plan
