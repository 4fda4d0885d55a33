"""A cut as a panel persona "watches" it: shots with frame-exact timings, on-screen text, the voice-over
transcript, the music mood and the end card; and, for endpoints that take images, its contact sheet.

What a segment's variants vary is read from the plans themselves, generically: every plan field whose
value differs between the variants (a declared axis, the hook's wording, the CTA, the music, the camera
moves, the order of the beats), so a planner that varies something new is described without code here.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from agent.plan import Plan, frame_counts

# Bookkeeping and prompt text that say nothing a viewer would notice.
IGNORED = {"uid", "seed", "seed_offset", "lineage", "prompt", "negative_prompt", "index", "variant", "planner",
           "notes", "segment"}  # fmt: skip
MAX_DIFFERENCES = 6


def rendition(plan: Plan, fps: int, brand: str, product: str, aspect_ratio: str) -> str:
    """The cut as text: what is seen, read and heard, second by second."""
    counts = frame_counts([s.seconds for s in plan.shots] + [plan.end_card.seconds], fps)
    lines = [f"A {sum(counts) / fps:.1f}-second video ad for {brand} ({product}), {aspect_ratio} format.",
             f"Music: {plan.music.mood}" + (f" ({plan.music.prompt})" if plan.music.prompt else "") + "."]
    start = 0
    for shot, n in zip(plan.shots, counts, strict=False):
        a, b = start / fps, (start + n) / fps
        parts = [f"{a:.1f}-{b:.1f} s, shot {shot.index + 1} ({shot.role}): {shot.description}.",
                 f"Camera: {shot.camera}."]
        if shot.caption.strip():
            parts.append(f'On screen: "{shot.caption.strip()}".')
        if shot.voice_line.strip():
            parts.append(f'Voice-over: "{shot.voice_line.strip()}".')
        parts.append("The product is on screen." if shot.shows_product else "")
        lines.append(" ".join(p for p in parts if p))
        start += n
    card = plan.end_card
    lines.append(f"{start / fps:.1f}-{sum(counts) / fps:.1f} s, end card: the {brand} logo and name, "
                 f'"{card.headline}", a button "{card.call_to_action}".')  # fmt: skip
    return "\n".join(lines)


def image_part(path: Path | None) -> dict[str, Any] | None:
    """An OpenAI image content part (a PNG as a data URL), or None without a file."""
    if path is None or not Path(path).is_file():
        return None
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k not in IGNORED:
                out |= _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out |= _flatten(v, f"{prefix}[{i}]")
        return out
    return {prefix: value}


def variant_differences(plans: list[Plan]) -> dict[str, list[str]]:
    """Per plan key, the values of the fields that differ between the variants ("shots[0].caption: ...")."""
    flat = {p.key: _flatten(p.model_dump(mode="json")) for p in plans}
    if len(flat) < 2:
        return {k: [] for k in flat}
    paths = sorted({path for f in flat.values() for path in f}, key=_path_order)
    differing = [p for p in paths if len({repr(f.get(p)) for f in flat.values()}) > 1]
    return {key: [f"{p}: {_short(f.get(p))}" for p in differing[:MAX_DIFFERENCES]]
            + ([f"(and {len(differing) - MAX_DIFFERENCES} more)"] if len(differing) > MAX_DIFFERENCES else [])
            for key, f in flat.items()}  # fmt: skip


def _path_order(path: str) -> tuple[int, str]:
    """Declared axes and plan-level fields first, then shots in order."""
    return (0 if not path.startswith("shots[") else 1, path)


def _short(value: Any, limit: int = 48) -> str:
    text = "-" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
