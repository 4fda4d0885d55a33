"""The studio's JSON API against a real server process on a random loopback port: briefs in through
the CLI's loader (same errors, limits, confinement), runs outside the request, progress from the store
(events over SSE), dry-run edits confirmed once, approvals and the export bundle, the doors (CSRF,
origin, token, media confinement), and a killed studio resuming its run on restart."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fixtures.probe import probe_mp4
from fixtures.studio import TINY_BRIEF, Studio, brief_folder, start_studio

from agent.store import Store

YAML = {"content-type": "application/yaml"}
RUN_JSON_KEYS = {"run_id", "status", "version", "planner", "cuts", "scorecard"}  # `briefcut run --json`
CUT_JSON_KEYS = {"brief", "segment", "variant", "format", "path", "duration_s"}


@pytest.fixture(scope="module")
def finished(studio: Studio) -> tuple[httpx.Client, str, dict]:
    """A run started over the API, watched over SSE until done."""
    client = studio.client()
    created = client.post("/api/runs", params={"name": "tiny.yaml"}, content=TINY_BRIEF, headers=YAML)
    assert created.status_code == 202, created.text
    run_id = created.json()["run_id"]
    assert client.get(f"/api/runs/{run_id}").json()["status"] in ("queued", "running")  # listed before it ends
    kinds = sse_kinds(studio, run_id, until="run_done")
    assert {"studio_queued", "run_created", "stage", "advance", "planned", "scored", "run_done"} <= set(kinds)
    return client, run_id, studio.wait_run(client, run_id)


def sse_kinds(studio: Studio, run_id: str, until: str, after: int = 0, timeout: float = 600) -> list[str]:
    """The event kinds the stream sends, read until `until` arrives."""
    kinds: list[str] = []
    with httpx.stream("GET", f"{studio.url}/api/runs/{run_id}/events", params={"after": after},
                      timeout=httpx.Timeout(timeout, read=timeout)) as stream:  # fmt: skip
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kinds.append(line.removeprefix("event: "))
                if kinds[-1] in (until, "run_failed"):
                    break
    assert kinds[-1] == until, kinds
    return kinds


def renders(studio: Studio, run_id: str) -> int:
    return sum(1 for t in Store(studio.workdir / "briefcut.db").takes(run_id, kind="video") if t["rendered"])


# 1. a run over the API ------------------------------------------------------------------------------
def test_run_reports_progress_and_cuts_in_the_run_json_shape(studio: Studio, finished) -> None:
    client, run_id, view = finished
    assert view["status"] == "done" and RUN_JSON_KEYS <= view.keys()
    assert [c["format"] for c in view["cuts"]] == ["1:1"] and all(CUT_JSON_KEYS <= c.keys() for c in view["cuts"])
    assert all(s["done"] == s["total"] > 0 for s in view["progress"]["stages"]), view["progress"]
    assert [s["stage"] for s in view["progress"]["stages"]] == ["plan", "render", "score", "assemble"]
    assert view["takes"] and all(t["status"] == "done" for t in view["takes"])
    cut = view["cuts"][0]
    probe = probe_mp4(Path(cut["path"]))
    assert probe["video_s"] == pytest.approx(4.0, abs=0.1) and probe["width"] == probe["height"]
    video = client.get(cut["url"], headers={"range": "bytes=0-1023"})
    assert video.status_code == 206 and len(video.content) == 1024
    assert video.content == Path(cut["path"]).read_bytes()[:1024]
    assert view["scorecard"][Path(cut["path"]).stem]["composite"] == cut["composite"]
    listed = client.get("/api/runs").json()["runs"]
    assert listed[0]["id"] == run_id and listed[0]["status"] == "done"


def test_openapi_documents_the_endpoints(studio: Studio) -> None:
    paths = httpx.get(f"{studio.url}/openapi.json").json()["paths"]
    for path in ("/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/events", "/api/runs/{run_id}/edits",
                 "/api/runs/{run_id}/edits/{edit_id}/confirm", "/api/validate", "/api/runs/{run_id}/export",
                 "/media/{path}"):  # fmt: skip
        assert path in paths, path
    assert "application/yaml" in paths["/api/runs"]["post"]["requestBody"]["content"]


# 2. briefs at the door --------------------------------------------------------------------------------
def test_a_bad_brief_gets_the_cli_line_and_starts_nothing(studio: Studio, tmp_path: Path) -> None:
    client = studio.client()
    before = len(client.get("/api/runs").json()["runs"])
    bad = TINY_BRIEF.replace("duration_s: 4", "duration_s: soon")
    (studio.briefs / "bad.yaml").write_text(bad)
    cli = subprocess.run([sys.executable, "-m", "agent.cli", "--workdir", str(tmp_path / "ws"), "run", "bad.yaml"],
                         cwd=studio.briefs, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert cli.returncode == 2
    refused = client.post("/api/runs", params={"name": "bad.yaml"}, content=bad, headers=YAML)
    assert refused.status_code == 422
    assert f"briefcut: error: {refused.json()['error']}" == cli.stderr.strip()
    line = bad.splitlines().index("  duration_s: soon") + 1
    checked = client.post("/api/validate", params={"name": "bad.yaml"}, content=bad, headers=YAML).json()
    assert checked == {"ok": False, "error": refused.json()["error"], "line": line, "field": "formats.duration_s"}
    assert client.post("/api/validate", content=TINY_BRIEF, headers=YAML).json()["ok"] is True
    assert len(client.get("/api/runs").json()["runs"]) == before


@pytest.mark.parametrize("case, status, words", [
    ("too large", 413, "larger than 1000000 bytes"),
    ("not yaml", 415, "Content-Type: application/yaml"),
    ("name with ..", 422, "without '..'"),
    ("asset outside", 422, "brand.logo: ../outside.png is outside the studio's brief folder"),
    ("absolute asset", 422, "is outside the studio's brief folder"),
    ("symlinked asset", 422, "is outside the studio's brief folder"),
    ("bad override", 422, "resolution:"),
])  # fmt: skip
def test_uploads_are_limited_and_confined(studio: Studio, case: str, status: int, words: str) -> None:
    client = studio.client()
    outside = studio.briefs.parent / "outside.png"
    outside.write_bytes((studio.briefs / "assets" / "lumen-logo.png").read_bytes())
    link = studio.briefs / "assets" / "link.png"
    if not link.exists():
        link.symlink_to(outside)
    body, params, headers = TINY_BRIEF, {}, YAML
    match case:
        case "too large":
            body = TINY_BRIEF + "#" * 1_000_001
        case "not yaml":
            headers = {"content-type": "text/html"}
        case "name with ..":
            params = {"name": "../tiny.yaml"}
        case "asset outside":
            body = TINY_BRIEF.replace("assets/lumen-logo.png", "../outside.png")
        case "absolute asset":
            body = TINY_BRIEF.replace("assets/lumen-logo.png", str(outside))
        case "symlinked asset":
            body = TINY_BRIEF.replace("assets/lumen-logo.png", "assets/link.png")
        case "bad override":
            params = {"resolution": 10}
    before = len(client.get("/api/runs").json()["runs"])
    response = client.post("/api/runs", params=params, content=body, headers=headers)
    assert response.status_code == status and words in response.json()["error"], response.text
    assert str(studio.briefs) not in response.json()["error"]  # the server's folders are not shown
    assert len(client.get("/api/runs").json()["runs"]) == before


# 3. the doors -----------------------------------------------------------------------------------------
def test_state_changes_need_the_csrf_token_and_the_same_origin(studio: Studio) -> None:
    plain = httpx.Client(base_url=studio.url)
    plain.get("/api/session")  # has the cookie, but does not echo it
    assert plain.post("/api/runs", content=TINY_BRIEF, headers=YAML).status_code == 403
    client = studio.client()
    foreign = client.post("/api/validate", content=TINY_BRIEF, headers={**YAML, "origin": "http://evil.example"})
    assert foreign.status_code == 403 and "cross-origin" in foreign.json()["error"]
    wrong = client.post("/api/validate", content=TINY_BRIEF, headers={**YAML, "x-csrf-token": "guess"})
    assert wrong.status_code == 403
    rebound = httpx.get(f"{studio.url}/api/runs", headers={"host": "evil.example"})
    assert rebound.status_code == 400  # a DNS-rebound page cannot read the API


def raw_get(url: str, path: str) -> int:
    """GET `path` exactly as written (no client-side normalisation of '..')."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status


def test_media_is_served_only_from_the_workspace_output_folders(studio: Studio, finished) -> None:
    _, run_id, view = finished
    (studio.workdir / "runs" / "escape.txt").symlink_to(studio.briefs / "tiny.yaml")
    cut = view["cuts"][0]["url"]
    assert raw_get(studio.url, cut) == 200
    for path in ("/media/../briefcut.db", "/media/runs/../briefcut.db", "/media/runs%2F..%2Fbriefcut.db",
                 "/media/briefcut.db", "/media/%2Fetc%2Fpasswd", "/media/runs/../../briefs/tiny.yaml",
                 f"/media/runs/{run_id}/..%2F..%2Fcheckpoints.db", "/media/runs/escape.txt", "/media/runs"):  # fmt: skip
        assert raw_get(studio.url, path) == 404, path


def test_a_public_address_needs_a_token_and_the_token_is_checked(tmp_path: Path) -> None:
    refused = subprocess.run([sys.executable, "-m", "agent.cli", "--workdir", str(tmp_path / "ws"), "serve",
                              "--host", "0.0.0.0"], capture_output=True, text=True, timeout=120,
                             env={k: v for k, v in os.environ.items() if k != "BRIEFCUT_STUDIO_TOKEN"})  # fmt: skip
    assert refused.returncode == 2 and "--token" in refused.stderr and not (tmp_path / "ws" / "briefcut.db").exists()
    server = start_studio(tmp_path / "ws", brief_folder(tmp_path / "briefs"), "--token", "s3cret")
    try:
        assert httpx.get(f"{server.url}/api/runs").status_code == 401
        assert httpx.get(f"{server.url}/api/runs", headers={"authorization": "Bearer nope"}).status_code == 401
        authed = httpx.Client(base_url=server.url, headers={"authorization": "Bearer s3cret"})
        assert authed.get("/api/runs").json() == {"runs": []}
        assert authed.post("/api/validate", content=TINY_BRIEF, headers=YAML).json()["ok"] is True  # bearer: no CSRF
        browser = httpx.Client(base_url=server.url, follow_redirects=True)
        assert browser.get("/", params={"token": "s3cret"}).status_code == 200  # the cookie, then the page
        assert browser.get("/api/runs").status_code == 200
    finally:
        server.stop()


# 4. edits, approval, export -----------------------------------------------------------------------------
def test_an_edit_is_a_dry_run_until_confirmed_once(studio: Studio, finished) -> None:
    client, run_id, _ = finished
    before = renders(studio, run_id)
    assert "what you can say" in client.post(f"/api/runs/{run_id}/edits", json={"message": "help"}).json()["help"]
    unclear = client.post(f"/api/runs/{run_id}/edits", json={"message": "make it pop"})
    assert unclear.status_code == 422 and "cannot understand" in unclear.json()["error"]
    proposed = client.post(f"/api/runs/{run_id}/edits", json={"message": "shot 1 seed 9; change the CTA to Order today"})
    assert proposed.status_code == 200, proposed.text
    dry = proposed.json()["dry_run"]
    plan = dry["plans"]["gamers/v0"]
    # shot 1 for its seed; a backend that draws the copy also renders the shot that shows the new CTA
    assert plan["video_shots"][0] == 1 and plan["video_takes"] == len(plan["video_shots"]) and plan["music"] is False
    assert not set(plan["kept_shots"]) & set(plan["video_shots"])
    assert any("Order today" in line for line in dry["ops"])
    stale = client.post(f"/api/runs/{run_id}/edits", json={"message": "shot 1 seed 11"}).json()["edit_id"]
    assert renders(studio, run_id) == before and client.get(f"/api/runs/{run_id}").json()["version"] == 1

    edit_id = proposed.json()["edit_id"]
    confirmed = client.post(f"/api/runs/{run_id}/edits/{edit_id}/confirm")
    assert confirmed.status_code == 202
    assert client.post(f"/api/runs/{run_id}/edits/{edit_id}/confirm").status_code == 409
    view = studio.wait_run(client, run_id, version=2)
    assert view["status"] == "done" and view["version"] == 2
    assert renders(studio, run_id) == before + plan["video_takes"]  # as the dry run said: one format, one take
    assert [v["version"] for v in view["versions"]] == [2, 1]
    assert "call to action" in " ".join(view["versions"][0]["diff"]["gamers/v0"])
    assert all(c["path"].endswith("_r2.mp4") for c in view["cuts"])
    late = client.post(f"/api/runs/{run_id}/edits/{stale}/confirm")
    assert late.status_code == 409 and "version 1" in late.json()["error"]
    assert client.post(f"/api/runs/{run_id}/edits/nope/confirm").status_code == 409


def test_approved_cuts_export_as_a_bundle(studio: Studio, finished) -> None:
    client, run_id, _ = finished
    assert client.post(f"/api/runs/{run_id}/export").status_code == 409  # nothing approved yet
    assert client.post(f"/api/runs/{run_id}/approve", json={"cuts": ["no-such-cut"]}).status_code == 404
    view = client.get(f"/api/runs/{run_id}").json()
    cut = view["cuts"][0]
    assert client.post(f"/api/runs/{run_id}/approve", json={"cuts": [cut["id"]]}).status_code == 200
    assert client.get(f"/api/runs/{run_id}").json()["approved"] == [cut["id"]]
    exported = client.post(f"/api/runs/{run_id}/export").json()
    data = client.get(exported["bundle"]).content
    assert len(data) == exported["bytes"]
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = set(z.namelist())
        stem = Path(cut["path"]).stem
        assert {f"{stem}/{stem}.mp4", f"{stem}/{stem}.srt", f"{stem}/{stem}.scorecard.json",
                f"{stem}/{stem}.contact.png", f"{stem}/provenance.json", "manifest.json"} <= names  # fmt: skip
        assert z.read(f"{stem}/{stem}.mp4") == Path(cut["path"]).read_bytes()
        manifest = json.loads(z.read("manifest.json"))
        assert manifest["run_id"] == run_id and [c["format"] for c in manifest["cuts"]] == ["1:1"]
        assert json.loads(z.read(f"{stem}/provenance.json"))["tool"] == "briefcut"


# 5. a killed studio resumes -----------------------------------------------------------------------------
def test_a_killed_studio_resumes_its_run_on_restart(tmp_path: Path) -> None:
    briefs = brief_folder(tmp_path / "briefs")
    server = start_studio(tmp_path / "ws", briefs)
    client = server.client()
    run_id = client.post("/api/runs", params={"name": "tiny.yaml"}, content=TINY_BRIEF, headers=YAML).json()["run_id"]
    deadline = time.time() + 120
    while time.time() < deadline:  # until the run has rendered something and is still going
        view = client.get(f"/api/runs/{run_id}").json()
        if any(t["status"] == "done" for t in view["takes"]) or view["status"] == "done":
            break
        time.sleep(0.2)
    server.stop(signal.SIGKILL)
    assert Store(tmp_path / "ws" / "briefcut.db").run(run_id)["status"] == "running"
    restarted = start_studio(tmp_path / "ws", briefs)
    try:
        view = restarted.wait_run(restarted.client(), run_id)
        assert view["status"] == "done" and view["cuts"]
        events = [e["kind"] for e in Store(tmp_path / "ws" / "briefcut.db").events(run_id)]
        assert events.count("run_created") == 1 and "run_running" in events  # resumed, not started again
    finally:
        restarted.stop()
