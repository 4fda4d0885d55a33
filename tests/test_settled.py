"""A repeat run with nothing changed answers with the finished run; anything that decides the cuts makes a new one."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from fixtures.cli import briefcut, cli_env, last_json, tiny_brief

from agent.brief import load_brief
from agent.profiles import resolve_choices
from agent.settings import Settings
from agent.settled import MEDIA_LIBRARIES, _version, code_digest, delivered_intact, run_key, settled_run
from agent.store import Store

ROOT = Path(__file__).parents[1]
LOGO = ROOT / "briefs" / "assets" / "lumen-logo.png"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One finished run of a tiny brief with a logo, in its own workspace."""
    tmp = tmp_path_factory.mktemp("settled")
    shutil.copy(LOGO, tmp / "logo.png")
    brief = tiny_brief(tmp, extra="", name="tiny.yaml")
    brief.write_text(brief.read_text().replace('brand: {name: Tiny,', 'brand: {name: Tiny, logo: logo.png,'))
    done = briefcut(tmp / "ws", "run", str(brief), "--json")
    assert done.returncode == 0, done.stderr
    return {"ws": tmp / "ws", "brief": brief, "summary": last_json(done.stdout)}


def _files(summary: dict) -> dict[Path, tuple[int, bytes]]:
    paths = [Path(c["path"]) for c in summary["cuts"]]
    paths += [p.with_suffix(s) for p in paths for s in (".srt", ".scorecard.json")]
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in paths}


def test_a_repeat_with_nothing_changed_is_the_finished_run_and_touches_no_file(finished: dict) -> None:
    before = _files(finished["summary"])
    again = briefcut(finished["ws"], "run", str(finished["brief"]), "--json")
    assert again.returncode == 0, again.stderr
    result = last_json(again.stdout)
    run_id = finished["summary"]["run_id"]
    assert result["run_id"] == run_id and result["reused"] is True
    assert result["cuts"] == finished["summary"]["cuts"]
    said = briefcut(finished["ws"], "run", str(finished["brief"]))  # a person reading it is told why
    assert said.returncode == 0 and f"run {run_id}: done" in said.stdout
    assert f"nothing that decides the cuts changed since run {run_id}" in said.stdout + said.stderr
    assert _files(result) == before  # not one byte written, not even rewritten with the same bytes
    store = Store(finished["ws"] / "briefcut.db")
    assert [r["id"] for r in store.runs()] == [run_id]
    assert [e["kind"] for e in store.events(run_id)].count("repeated") == 2


def test_a_repeat_imports_neither_the_graph_nor_sqlite_utils(finished: dict) -> None:
    """The repeat answers from the store and the run key: what only a new run or an edit needs (the graph and
    its langchain stack, sqlite-utils for writes other than an event, torch) is never imported."""
    repeat = subprocess.run([sys.executable, "-X", "importtime", "-m", "agent.cli", "run", str(finished["brief"]),
                             "--json"], capture_output=True, text=True, timeout=300, env=cli_env(finished["ws"]))  # fmt: skip
    assert repeat.returncode == 0, repeat.stderr[-2000:]
    assert last_json(repeat.stdout)["reused"] is True
    imported = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", repeat.stderr, re.M))
    assert {"agent.settled", "agent.store"} <= imported  # (what -X importtime reports is read right)
    top = {name.split(".")[0] for name in imported}
    assert not top & {"langgraph", "langchain_core", "langsmith", "sqlite_utils", "torch", "transformers"}


def test_fresh_or_a_changed_logo_makes_a_new_run(finished: dict, tmp_path: Path) -> None:
    run_id = finished["summary"]["run_id"]
    fresh = briefcut(finished["ws"], "run", str(finished["brief"]), "--fresh", "--json")
    assert fresh.returncode == 0, fresh.stderr
    assert last_json(fresh.stdout)["run_id"] != run_id and "reused" not in last_json(fresh.stdout)
    # the brief in another folder is another run; there, other bytes under the logo's name make another again
    moved = tmp_path / "brief"
    moved.mkdir()
    shutil.copy(finished["brief"], moved / "tiny.yaml")
    shutil.copy(LOGO, moved / "logo.png")
    first = briefcut(finished["ws"], "run", str(moved / "tiny.yaml"), "--json")
    assert first.returncode == 0 and last_json(first.stdout)["run_id"] not in (run_id, last_json(fresh.stdout)["run_id"])
    logo = moved / "logo.png"
    logo.write_bytes(logo.read_bytes() + b"\0")  # still a PNG to Pillow; other bytes
    changed = briefcut(finished["ws"], "run", str(moved / "tiny.yaml"), "--json")
    assert changed.returncode == 0, changed.stderr
    assert last_json(changed.stdout)["run_id"] != last_json(first.stdout)["run_id"]


def test_a_cut_changed_or_gone_after_delivery_is_no_answer(finished: dict, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    shutil.copytree(finished["ws"], ws)
    store = Store(ws / "briefcut.db")
    old, new = str(finished["ws"]), str(ws)
    for run in store.runs():  # the copy's records name the copy's files
        store.update("runs", run["id"], out_dir=run["out_dir"].replace(old, new))
        for c in store.cuts(run["id"]):
            store.update("cuts", c["id"], **{k: c[k].replace(old, new) for k in ("path", "srt", "poster", "contact_sheet")})
    key = store.run(finished["summary"]["run_id"])["run_key"]
    row = store.rows("runs", "run_key = ?", [key], order_by="created_at desc")[0]  # the newest of that key
    run_id, cuts = row["id"], store.cuts(row["id"])
    assert settled_run(store, key, None, ws / "locks") == run_id
    assert settled_run(store, key, tmp_path / "another-out", ws / "locks") is None
    assert settled_run(store, "another key", None, ws / "locks") is None
    assert not delivered_intact([{**c, "version": 2} for c in cuts])  # an edited run holds other cuts
    assert not delivered_intact([])
    cut = Path(cuts[0]["path"])
    cut.write_bytes(cut.read_bytes()[:-1] + b"\1")
    assert not delivered_intact(cuts)
    assert settled_run(store, key, None, ws / "locks") != run_id  # an older run of the key that still stands, or none
    cut.unlink()
    assert not delivered_intact(cuts)
    folders = [Path(r["out_dir"]) for r in store.rows("runs", "run_key = ?", [key])]
    for gone in folders:
        shutil.rmtree(gone)
    assert settled_run(store, key, None, ws / "locks") is None
    assert not any(f.exists() for f in folders)  # looking did not make them again


def test_the_key_follows_the_brief_its_files_the_backends_and_the_code(finished: dict, tmp_path: Path) -> None:
    settings = Settings.from_env({})
    brief = load_brief(finished["brief"])
    choices = resolve_choices(brief, settings)
    key = run_key(brief, finished["brief"], choices, settings)
    assert key and key == run_key(brief, finished["brief"], choices, settings)
    other = brief.model_copy(update={"message": "Smaller and brighter."})
    assert run_key(other, finished["brief"], choices, settings) != key
    assert run_key(brief, tmp_path / "elsewhere.yaml", choices, settings) != key
    synth = choices.model_copy(update={"video": choices.video.model_copy(update={"backend": "storyboard"})})
    assert run_key(brief, finished["brief"], synth, settings) != key
    # an LLM plans or ranks: asking again is the point, so there is no key
    llm = choices.model_copy(update={"planner": choices.planner.model_copy(update={"backend": "openai"})})
    assert run_key(brief, finished["brief"], llm, settings) is None
    assert run_key(brief, finished["brief"], choices, Settings.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})) is None
    panel = brief.model_copy(update={"audience": brief.audience.model_copy(update={"panel": "on"})})
    assert run_key(panel, finished["brief"], choices, settings) is None
    # CLIP weights that arrive change every score: a local model folder is keyed by its files
    weights = tmp_path / "clip"
    weights.mkdir()
    local = choices.model_copy(update={"clip": choices.clip.model_copy(update={"model": str(weights)})})
    empty = run_key(brief, finished["brief"], local, settings)
    (weights / "model.safetensors").write_bytes(b"weights")
    assert run_key(brief, finished["brief"], local, settings) not in (empty, key)


def test_a_font_installed_since_changes_the_key(finished: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A caption that fell back to another face (or to none) looks different once the font it needed is there."""
    settings = Settings.from_env({})
    brief = load_brief(finished["brief"])
    choices = resolve_choices(brief, settings)
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    monkeypatch.setenv("BRIEFCUT_FONT_DIRS", str(fonts))
    before = run_key(brief, finished["brief"], choices, settings)
    assert run_key(brief, finished["brief"], choices, settings) == before
    shutil.copy(ROOT / "briefs" / "assets" / "lumen-logo.png", fonts / "readme.png")  # not a font: no change
    assert run_key(brief, finished["brief"], choices, settings) == before
    (fonts / "NotoSansThai-Bold.ttf").write_bytes(b"a face")
    assert run_key(brief, finished["brief"], choices, settings) != before


def test_the_code_digest_changes_with_any_source_file(tmp_path: Path) -> None:
    for package in ("agent", "generators", "evaluators"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "agent" / "prompts").mkdir()
    prompt = tmp_path / "agent" / "prompts" / "system.txt"
    prompt.write_text("Write shots.")
    before = code_digest(tmp_path)
    prompt.write_text("Write shots!")
    assert code_digest.__wrapped__(tmp_path) != before
    (tmp_path / "generators" / "new.py").write_text("X = 1\n")
    assert len({before, code_digest.__wrapped__(tmp_path)}) == 2


def test_library_versions_read_as_importlib_reads_them() -> None:
    """The code digest reads a media library's version from its metadata's headers; it is the version
    importlib.metadata gives, for every library installed here, and None for one that is not."""
    installed = 0
    for name in MEDIA_LIBRARIES:
        try:
            expected = metadata.version(name)
        except metadata.PackageNotFoundError:
            expected = None
        installed += expected is not None
        assert _version(name) == expected, name
    assert installed >= 3 and _version("no-such-library-briefcut") is None
