"""End cards made ahead (agent.edit.ahead): a call-to-action edit makes every cut's end card chunk and
its ad-check answer while the run's graph loads; assembly then uses both as they are, and a failure there
costs only the time."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

import agent.assembly.chunks as chunks
import generators.atomic as atomic
from agent.cli import app
from agent.edit.ahead import end_cards_ahead
from agent.edit.session import apply_edit, dry_run, prepare_edit
from agent.jobs import load_plans
from agent.runner import open_run
from agent.settings import Settings
from agent.store import Store
from agent.workspace import Workspace

ROOT = Path(__file__).parents[1]


def draft_run(tmp_path: Path) -> tuple[Path, str]:
    """A finished storyboard run of the multi-format brief, in two formats at 96 px."""
    ws, brief = tmp_path / "ws", tmp_path / "brief.yaml"
    text = (ROOT / "briefs" / "multi-format.yaml").read_text()
    brief.write_text(text.replace('["16:9", "9:16", "1:1", "4:5"]', '["16:9", "9:16"]')
                     .replace("resolution: 540", "resolution: 96"))  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_BASE_URL", "BRIEFCUT_LLM_MODEL")}
    result = CliRunner().invoke(app, ["--workdir", str(ws), "run", str(brief), "--draft", "--json"], env=env,
                                catch_exceptions=False)  # fmt: skip
    assert result.exit_code == 0, result.output
    return ws, json.loads(result.output.strip().splitlines()[-1])["run_id"]


def files(folder: Path) -> dict[Path, tuple[int, int]]:
    """Each file with its inode and modification time: a file made again (renamed over) has others."""
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}


def last_frame(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        *_, last = container.decode(video=0)
        return last.to_ndarray(format="rgb24")


def assert_end_cards_checked(ws_root: Path, run_id: str, cuts: int) -> None:
    """The edit's cuts (version 2) were checked: the new call to action found on the end card, which lasts
    as long as the first version's."""
    versions: dict[int, list[dict]] = {}
    for cut in Store(ws_root / "briefcut.db").cuts(run_id):
        versions.setdefault(cut["version"], []).append({c["name"]: c for c in cut["scorecard"]["checks"]})
    assert len(versions[2]) == cuts
    for old, new in zip(versions[1], versions[2], strict=True):
        assert new["cta_on_screen"]["pass"] and "Order by Wednesday" in new["cta_on_screen"]["detail"]
        assert new["end_card_seconds"]["value"] == old["end_card_seconds"]["value"] > 0


def test_a_call_to_action_edit_uses_the_end_cards_made_ahead_as_they_are(tmp_path: Path) -> None:
    ws_root, run_id = draft_run(tmp_path)
    parts = ws_root / "cut-cache" / "parts"
    with Workspace.at(ws_root, Settings.from_env({})) as ws:
        request = prepare_edit(ws, run_id, "cta: Order by Wednesday")
        ctx = open_run(run_id, ws)
        plans = load_plans(ctx)
        before = files(parts)
        with end_cards_ahead(ctx, plans, dry_run(ctx, plans, request.ops)):
            pass
        ahead = {p: stamp for p, stamp in files(parts).items() if p not in before}
        made = [p for p in ahead if p.suffix == ".ts"]
        cuts = len(plans) * len(ctx.brief.formats.aspect_ratios)
        assert len(made) == cuts  # an end card per cut (each cut's watermark is its own)
        assert all(any(q.name.startswith(f"{p.stem}.ev-") for q in ahead) for p in made)  # and its answer

        summary = apply_edit(ws, request)

    after = files(parts)
    assert all(after.get(p) == stamp for p, stamp in ahead.items())  # neither made again nor asked otherwise
    new = [p for p in after if p not in before and p not in ahead]
    assert not [p for p in new if any(p.name.startswith(f"{m.stem}.") for m in made)]
    assert len(summary["cuts"]) == cuts
    for cut in summary["cuts"]:  # each cut ends on one of them, frame for frame (streams copied)
        assert any(np.array_equal(last_frame(Path(cut["path"])), last_frame(m)) for m in made)
    assert_end_cards_checked(ws_root, run_id, cuts)


def test_an_edit_that_keeps_the_end_card_makes_nothing_ahead(tmp_path: Path) -> None:
    ws_root, run_id = draft_run(tmp_path)
    parts = ws_root / "cut-cache" / "parts"
    with Workspace.at(ws_root, Settings.from_env({})) as ws:
        ctx = open_run(run_id, ws)
        plans = load_plans(ctx)
        before = files(parts)
        request = prepare_edit(ws, run_id, "caption 1: Fresh from the farm")
        with end_cards_ahead(ctx, plans, dry_run(ctx, plans, request.ops)):
            pass
        assert files(parts) == before


def test_end_cards_that_fail_ahead_are_made_by_assembly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws_root, run_id = draft_run(tmp_path)

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(chunks, "end_chunk", full_disk)
    with Workspace.at(ws_root, Settings.from_env({})) as ws:
        summary = apply_edit(ws, prepare_edit(ws, run_id, "cta: Order by Wednesday"))
    assert summary["status"] == "done"
    assert_end_cards_checked(ws_root, run_id, 2)


def test_two_threads_after_the_same_chunk_make_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ws_root, run_id = draft_run(tmp_path)
    encoded = []
    encode = chunks._encode_chunk
    monkeypatch.setattr(chunks, "_encode_chunk", lambda *a, **k: (encoded.append(a[1]), encode(*a, **k)))
    with Workspace.at(ws_root, Settings.from_env({})) as ws:
        ctx = open_run(run_id, ws)
        plans = load_plans(ctx)
        request = prepare_edit(ws, run_id, "cta: Order by Wednesday")
        edited = dry_run(ctx, plans, request.ops)
        errors = []

        def make() -> None:
            try:
                with end_cards_ahead(ctx, plans, edited):
                    pass
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=make) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert len(encoded) == len(plans) * 2  # each cut's end card once, though both threads went after each


def test_one_maker_holds_back_threads_after_the_same_file_only(tmp_path: Path) -> None:
    """A thread after a file another is making waits for it; a thread after another file does not; and
    nothing is left behind once they are done."""
    made, entered, release = [], threading.Event(), threading.Event()

    def make(name: str, hold: bool) -> None:
        with atomic.one_maker(tmp_path / name):
            made.append(name)
            if hold:
                entered.set()
                release.wait(5)

    first = threading.Thread(target=make, args=("a.ts", True))
    first.start()
    assert entered.wait(5)
    same, other = threading.Thread(target=make, args=("a.ts", False)), threading.Thread(target=make, args=("b.ts", False))
    same.start(), other.start()
    other.join(5)
    assert made == ["a.ts", "b.ts"]  # the other file was made while a.ts was held; a.ts's second thread waits
    release.set()
    first.join(5), same.join(5)
    assert made == ["a.ts", "b.ts", "a.ts"] and atomic._MAKERS == {}
