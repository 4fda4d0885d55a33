"""The studio in a real browser (Playwright driving the system's Chromium): upload a brief, watch it
reach done (through a reload), play the cuts, send a chat edit, read its dry run, confirm, see the new
version, approve and export. Labels and keyboard use are checked on the way; screenshots are kept in
$BRIEFCUT_TEST_ARTIFACTS (else the test's temporary folder)."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from fixtures.studio import CHROMIUM, TINY_BRIEF, Studio

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make sysdeps: apt-get install chromium)")
TWO_FORMATS = TINY_BRIEF.replace('aspect_ratios: ["1:1"]', 'aspect_ratios: ["1:1", "9:16"]')
LONG = 600_000  # ms: a run on a loaded machine


@pytest.fixture()
def page(tmp_path: Path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the dev extra)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
        yield context.new_page()
        browser.close()


def artifacts(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("BRIEFCUT_TEST_ARTIFACTS") or tmp_path / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_brief_to_approved_bundle_in_a_browser(studio: Studio, page, tmp_path: Path) -> None:
    shots = artifacts(tmp_path)
    brief = studio.briefs / "two-formats.yaml"
    brief.write_text(TWO_FORMATS, encoding="utf-8")

    # 1. the editor: keyboard first, labels on every control, live validation at line and field
    page.goto(f"{studio.url}/#/new")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for label in ("Brief (YAML)", "Upload a brief file", "File name (assets resolve beside it)", "Profile",
                  "Resolution (short side, px)", "Variants"):  # fmt: skip
        assert page.get_by_label(label, exact=True).count() == 1, label
    page.get_by_label("Upload a brief file").set_input_files(str(brief))
    page.wait_for_function("document.querySelector('#brief-name').value === 'two-formats.yaml'")
    page.wait_for_function("document.querySelector('#validation').textContent.startsWith('Valid')")
    assert "1:1, 9:16" in page.inner_text("#validation")
    editor = page.get_by_label("Brief (YAML)", exact=True)
    editor.fill(TWO_FORMATS.replace("duration_s: 4", "duration_s: -4"))
    page.wait_for_function("document.querySelector('#validation').className === 'error'")
    line = TWO_FORMATS.splitlines().index("  duration_s: 4") + 1
    assert f"two-formats.yaml:{line}:3: formats.duration_s:" in page.inner_text("#validation")
    assert editor.get_attribute("aria-invalid") == "true"
    page.get_by_role("button", name=f"Go to line {line}").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("(() => { const a = document.activeElement; return a.value.slice(a.selectionStart, a.selectionEnd); })()") == "  duration_s: -4"
    editor.fill(TWO_FORMATS)
    page.wait_for_function("document.querySelector('#validation').textContent.startsWith('Valid')")

    # 2. start it, reload while it runs: progress comes back from the store
    page.get_by_role("button", name="Start run").click()
    page.wait_for_url("**/#/runs/*")
    run_id = page.url.rsplit("/", 1)[-1]
    page.wait_for_selector("#stages progress", timeout=LONG)
    page.reload()
    page.wait_for_selector("#stages progress", timeout=LONG)
    page.wait_for_function("document.querySelector('#run-status').textContent === 'done'", timeout=LONG)
    assert page.locator("#stages progress").count() == 4
    assert all(p.get_attribute("value") == p.get_attribute("max") for p in page.locator("#stages progress").all())

    # 3. review: both formats side by side and playable, scorecards, variants
    videos = page.locator("#cuts video")
    assert videos.count() == 2
    page.wait_for_function("[...document.querySelectorAll('#cuts video')].every(v => v.readyState >= 2)", timeout=60_000)
    for state in page.evaluate("[...document.querySelectorAll('#cuts video')].map(v => ({ready: v.readyState, duration: v.duration, error: v.error && v.error.code, w: v.videoWidth, h: v.videoHeight}))"):
        assert state["error"] is None and state["ready"] >= 2 and state["duration"] == pytest.approx(4.0, abs=0.15)
        assert state["w"] > 0 and state["h"] > 0
    page.evaluate("document.querySelector('#cuts video').play()")
    page.wait_for_function("document.querySelector('#cuts video').currentTime > 0.2", timeout=30_000)
    assert page.locator("#variants tbody tr").count() == 1
    page.locator("#cuts details summary").first.click()
    assert page.locator("#cuts table.scorecard tbody tr").first.is_visible()
    page.screenshot(path=str(shots / "studio-review.png"), full_page=True)

    # 4. a chat edit: the dry run says what renders again, then the confirmed edit is version 2
    message = page.get_by_label('What should change? (try "help")')
    message.fill("shot 1 seed 9; change the CTA to Order today")
    message.press("Enter")
    page.wait_for_selector("#dry-run-panel")
    assert "pictures of shot 1" in page.inner_text("#dry-run-panel td.renders")  # and any shot that shows the copy
    assert "the music" in page.inner_text("#dry-run-panel td.kept")  # what the edit leaves as it is
    assert page.evaluate("document.activeElement.id") == "edit-confirm"
    page.screenshot(path=str(shots / "studio-dry-run.png"), full_page=True)
    page.keyboard.press("Enter")  # confirm from the keyboard
    page.wait_for_function("document.querySelector('#review-version').textContent === 'version 2'", timeout=LONG)
    page.wait_for_function("document.querySelector('#run-status').textContent === 'done'", timeout=LONG)
    assert page.locator("#cmp-a option").count() == 2 and page.locator("#compare video").count() == 4
    assert "Order today" in page.inner_text("#cuts")  # the diff beside the new version
    page.wait_for_function("[...document.querySelectorAll('#cuts video')].every(v => v.readyState >= 1 && v.currentSrc.includes('_r2.mp4'))", timeout=60_000)

    # 5. approve one cut, export the bundle and download it
    checkbox = page.locator("#cuts input.approve").first
    checkbox.focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Save approval").click()
    page.wait_for_function("document.querySelector('#export-result').textContent.startsWith('Approved 1')")
    page.get_by_role("button", name="Export bundle").click()
    with page.expect_download() as download:
        page.locator("#bundle-link").click()
    data = Path(download.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
    assert "manifest.json" in names and sum(n.endswith("_r2.mp4") for n in names) == 1
    page.screenshot(path=str(shots / "studio-exported.png"), full_page=True)
    assert run_id in page.url
