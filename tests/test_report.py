"""The HTML report: self-contained, its numbers equal the store's, and it plays in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from test_batch import write_brief

from agent.brief import load_brief
from agent.report import write_report
from agent.runner import start_run
from agent.settings import Overrides
from agent.store import Store
from agent.workspace import Workspace

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


class Cells(HTMLParser):
    """Number cells (data-metric) and every src/href in the page."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[dict] = []
        self.links: list[str] = []
        self._open: dict | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        self.links += [a[k] for k in ("src", "href", "poster") if a.get(k)]
        if tag == "td" and "data-metric" in a:
            self._open = {**a, "text": ""}

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._open is not None:
            self.cells.append(self._open)
            self._open = None


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str, Path]:
    root = tmp_path_factory.mktemp("report")
    ws = Workspace.at(root / "ws")
    path = write_brief(root, "Fir", 5)
    brief = load_brief(path)
    brief = brief.model_copy(update={"segments": brief.segments[:1], "variants": 2})
    run_id = start_run(path, ws, overrides=Overrides(profile="preview"), brief=brief)["run_id"]
    index = write_report(ws, [run_id], root / "report", "Fir review")
    return ws, run_id, index


def store_numbers(store: Store, run_id: str) -> dict[tuple, float | None]:
    """(cut anchor, metric, shot) -> value, straight from the cuts' scorecard column."""
    expected = {}
    for cut in store.cuts(run_id):
        anchor, card = f"{run_id}-{Path(cut['path']).stem}", cut["scorecard"]
        expected[(anchor, "composite", None)] = card["cut"]["composite"]
        expected[(anchor, "cross_shot_consistency", None)] = card["cut"].get("cross_shot_consistency")
        for shot in card["shots"]:
            expected[(anchor, "shot_composite", str(shot["shot"]))] = shot["composite"]
            for metric, value in shot["metrics"].items():
                if any(isinstance(s["metrics"].get(metric), float) for s in card["shots"]):
                    expected[(anchor, metric, str(shot["shot"]))] = value
    return expected


def test_report_numbers_equal_the_store(finished_run) -> None:
    ws, run_id, index = finished_run
    parser = Cells()
    parser.feed(index.read_text())
    shown = {}
    for cell in parser.cells:
        key = (cell["data-cut"], cell["data-metric"], cell.get("data-shot"))
        value = float(cell["data-value"]) if cell["data-value"] else None
        assert cell["text"] == ("—" if value is None else f"{value:.3f}")
        assert shown.setdefault(key, value) == value  # the comparison table repeats the composites
    expected = store_numbers(Store(ws.db_path), run_id)
    assert len(expected) >= 2 * (2 + 2 * 3)
    assert shown == expected


def test_report_is_self_contained_and_marks_weak_shots(finished_run) -> None:
    ws, run_id, index = finished_run
    html = index.read_text()
    parser = Cells()
    parser.feed(html)
    files = [link for link in parser.links if not link.startswith("#")]
    assert len([f for f in files if f.endswith(".mp4")]) == 2
    for link in files:
        assert not re.match(r"^(https?:|/)", link) and (index.parent / link).is_file()
    for cut in Store(ws.db_path).cuts(run_id):
        shots = cut["scorecard"]["shots"]
        weakest = min(shots, key=lambda s: s["composite"])["shot"]
        anchor = f"{run_id}-{Path(cut['path']).stem}"
        section = html[html.index(f"id='{anchor}'"):]
        section = section[: section.index("</table>", section.index("class='scorecard'"))]
        row = re.search(rf"<tr class='([^']*)' data-shot='{weakest}'>", section)
        assert row and "weakest" in row.group(1)
        for shot in shots:
            classes = re.search(rf"<tr class='([^']*)' data-shot='{shot['shot']}'>", section).group(1)
            assert ("weak" in classes.split()) == bool(shot["weak"])
    assert html.count("<circle class='dot'") >= 2 * 2 * 3  # a dot per shot and metric
    plan = next(iter(Store(ws.db_path).latest_plans(run_id).values()))["plan"]
    assert all(escape(s["prompt"]) in html for s in plan["shots"])
    # every cut's ad checks with value, threshold and source; the panel says why it was not computed
    assert html.count("data-check='brand_in_first_5s'") == 2 and "ABCDs of effective video ads" in html
    assert "Audience panel (a heuristic)" in html and "not computed: no LLM endpoint is configured" in html


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make sysdeps: apt-get install chromium)")
def test_report_renders_and_plays_in_headless_chromium(finished_run, tmp_path: Path) -> None:
    ws, run_id, index = finished_run
    base = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "shot.png"
    subprocess.run([*base, f"--screenshot={shot}", "--window-size=1280,2000", index.as_uri()],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2000)
    assert max(ImageStat.Stat(image).stddev) > 20 and len(image.getcolors(1_000_000)) > 200

    dom = subprocess.run([*base, "--virtual-time-budget=8000", "--dump-dom", index.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout  # fmt: skip
    status = json.loads(re.search(r"<pre id=\"media-status\">(.*?)</pre>", dom, re.S).group(1))
    cuts = {f"v-{run_id}-{Path(c['path']).stem}": c for c in Store(ws.db_path).cuts(run_id)}
    assert {s["id"] for s in status} == set(cuts)
    for s in status:
        assert s["error"] is None and s["readyState"] >= 1, s  # HAVE_METADATA: the file loaded and parsed
        assert s["duration"] == pytest.approx(cuts[s["id"]]["duration_s"], abs=0.1)
    parser = Cells()
    parser.feed(dom)
    expected = store_numbers(Store(ws.db_path), run_id)
    for cell in parser.cells:
        value = expected[(cell["data-cut"], cell["data-metric"], cell.get("data-shot"))]
        assert cell["text"] == ("—" if value is None else f"{value:.3f}")


def test_report_command_writes_a_run_report(finished_run, tmp_path: Path) -> None:
    ws, run_id, _ = finished_run
    env = {**os.environ, "BRIEFCUT_HOME": str(ws.root)}
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "report", run_id, "--out", str(tmp_path / "r"), "--json"],
                          capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    index = Path(json.loads(proc.stdout.strip().splitlines()[-1])["report"])
    assert index == tmp_path / "r" / "index.html" and f"Run {run_id}" in index.read_text()
    missing = subprocess.run([sys.executable, "-m", "agent.cli", "report", "no-such-run"],
                             capture_output=True, text=True, timeout=120, env=env)  # fmt: skip
    assert missing.returncode == 2 and "no-such-run" in missing.stderr
