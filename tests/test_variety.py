"""A batch of N segments x M variants gives N x M cuts that differ: no two cuts share a frame, and
each plan names its own audience and records what its variant varies."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import numpy as np
from fixtures.media import decode_video

from agent.batch.queue import BatchOptions, run_batch
from agent.store import Store
from agent.workspace import Workspace

ROOT = Path(__file__).parents[1]
BRIEF = """\
brand: {{name: Lumen, palette: ["#0B1F3A", "#F2C14E", "#F7F4EA"], logo: {assets}/lumen-logo.png}}
product: {{name: Lumen Bottle, description: an insulated bottle, reference_image: {assets}/lumen-bottle.png}}
message: "Cold for 24 hours."
call_to_action: Shop now
segments:
  - {{id: runners, description: early-morning runners}}
  - {{id: commuters, description: busy commuters}}
formats: {{aspect_ratios: ["16:9"], duration_s: 4, fps: 24, resolution: 72}}
variants: {{count: 3, vary: [hook, cta, music]}}
shots: 2
refine: {{max_rounds: 0}}
seed: 3
"""


def test_segments_times_variants_cuts_all_differ(tmp_path: Path) -> None:
    brief = tmp_path / "brief.yaml"
    shutil.copytree(ROOT / "briefs" / "assets", tmp_path / "assets")  # assets lie beside their brief
    brief.write_text(BRIEF.format(assets="assets"))
    ws = Workspace.at(tmp_path / "ws")
    result = run_batch(ws, [brief], BatchOptions())
    assert result["status"] == "done", result["jobs"]
    cuts = {(c["segment"], c["variant"]): decode_video(Path(c["path"])) for c in result["cuts"]}
    assert set(cuts) == {(s, v) for s in ("runners", "commuters") for v in range(3)}
    for (a, fa), (b, fb) in itertools.combinations(cuts.items(), 2):
        n = min(len(fa), len(fb))
        # every aligned frame differs beyond encoder noise, and no frame of one cut is any frame of the other
        per_frame = np.abs(fa[:n].astype(np.int16) - fb[:n]).mean(axis=(1, 2, 3))
        assert per_frame.min() > 1.0, (a, b, int(per_frame.argmin()))
        flat_a, flat_b = fa.reshape(len(fa), -1).astype(np.int16), fb.reshape(len(fb), -1).astype(np.int16)
        nearest = min(np.abs(x - flat_b).mean(axis=1).min() for x in flat_a)
        assert nearest > 1.0, (a, b)
    store = Store(ws.db_path)
    plans = [p for run in {c["run_id"] for c in result["cuts"]} for p in store.latest_plans(run).values()]
    assert len(plans) == 6
    for plan in plans:
        data = plan["plan"]
        audience = "runners" if plan["segment"] == "runners" else "commuters"
        copy = " ".join(s["caption"] + " " + s["prompt"] for s in data["shots"]).lower()
        assert audience in copy
        assert set(data["varies"]) == {"hook", "cta", "music"}
    hooks = {(p["segment"], p["variant"]): p["plan"]["varies"]["hook"] for p in plans}
    assert len(set(hooks.values())) == 6  # six hook lines: three angles, each naming its audience
