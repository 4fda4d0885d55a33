"""`briefcut audience calibrate`: rank correlation between the panel and real A/B results, on known
answers, and one clear error (file and line) for each kind of bad results file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from agent.audience.calibrate import calibrate, read_results
from agent.brief import load_brief
from agent.cli import app
from agent.errors import CalibrationError
from agent.planners.base import PlanRequest
from agent.planners.template import TemplatePlanner
from agent.settings import Settings
from agent.workspace import Workspace

ROOT = Path(__file__).parents[1]
RESULTS = Path(__file__).parent / "fixtures" / "ab_results.csv"
KEYS = ["runners/v0", "runners/v1", "students/v0", "students/v1"]


def panel(intents: dict[str, float], spread: float = 0.0) -> dict[str, dict]:
    """Stored panel results whose personas x samples intent matrices have the given means."""
    rng = np.random.default_rng(0)
    out: dict[str, dict] = {}
    for key, mean in intents.items():
        segment = key.split("/v")[0]
        rows = [[{"intent": float(mean + spread * rng.standard_normal())} for _ in range(2)] for _ in range(4)]
        out.setdefault(segment, {"computed": True, "answers": {}})["answers"][key] = rows
    return out


@pytest.fixture
def ws(tmp_path: Path):
    """A workspace with run "r": plans for runners and students (2 variants each), no panel yet."""
    brief = load_brief(ROOT / "briefs" / "spring-launch.yaml")
    workspace = Workspace.at(tmp_path / "ws", Settings.from_env({}))
    workspace.store.create_run({"id": "r", "brief_path": "b.yaml", "brief": brief.model_dump(mode="json")})
    for key in KEYS:
        segment, variant = key.split("/v")
        plan = TemplatePlanner().plan(PlanRequest(brief=brief, segment=brief.segment(segment), variant=int(variant)))
        workspace.store.save_plan("r", plan.model_dump(mode="json"), 1)
    yield workspace
    workspace.close()


def store_panel(ws: Workspace, intents: dict[str, float], spread: float = 0.0) -> None:
    for segment, result in panel(intents, spread).items():
        ws.store.save_audience("r", segment, 1, result)


def test_a_panel_that_ranks_like_the_results_correlates_fully(ws):
    # observed click rates: runners v0 0.8%, v1 1.797%; students v0 0.444%, v1 0.889% (two rows added up)
    store_panel(ws, {"runners/v0": 3.0, "runners/v1": 6.0, "students/v0": 2.0, "students/v1": 4.0})
    out = calibrate(ws.store, "r", RESULTS)
    assert out["outcome"] == "clicks" and out["variants"] == 4
    assert out["spearman"]["value"] == 1.0 and out["kendall"]["value"] == 1.0
    assert 0.0 < out["spearman"]["low"] <= out["spearman"]["high"] <= 1.0
    students = out["segments"]["students"]
    assert students["agree"] and students["rows"][1]["impressions"] == 9100 and students["rows"][1]["outcome"] == 81


def test_a_reversed_panel_correlates_negatively_and_disagrees(ws):
    store_panel(ws, {"students/v0": 7.0, "runners/v0": 5.0, "students/v1": 3.0, "runners/v1": 1.0}, spread=0.5)
    out = calibrate(ws.store, "r", RESULTS, metric="view_through")
    assert out["outcome"] == "view_through" and out["spearman"]["value"] == -1.0
    assert out["spearman"]["high"] < 0.5 and not out["segments"]["runners"]["agree"]


def test_too_few_variants_give_no_correlation_but_say_why(ws, tmp_path):
    store_panel(ws, {"runners/v0": 3.0, "runners/v1": 6.0, "students/v0": 2.0, "students/v1": 4.0})
    csv = tmp_path / "two.csv"
    csv.write_text("variant,impressions,clicks\nrunners/v0,100,1\nrunners/v1,100,3\n")
    out = calibrate(ws.store, "r", csv)
    assert out["spearman"]["value"] is None and "at least 3 variants" in out["spearman"]["reason"]
    assert out["segments"]["runners"]["agree"] is True


@pytest.mark.parametrize(("text", "message"), [
    ("variant,clicks\nrunners/v0,3\n", ":1: missing column(s) impressions"),
    ("variant,impressions\nrunners/v0,3\n", ":1: missing column(s) clicks or view_through"),
    ("variant,impressions,clicks\nrunners/v0,100,1\nrunners/v7,100,1\n", ":3: unknown variant 'runners/v7'; the run's variants: runners/v0"),
    ("variant,impressions,clicks\nv0,100,1\n", ":2: variant 'v0' needs a segment column"),
    ("variant,impressions,clicks\nrunners/v0,lots,1\n", ":2: impressions must be a number, got 'lots'"),
    ("variant,impressions,clicks\nrunners/v0,100,101\n", ":2: clicks (101) is more than impressions (100)"),
    ("variant,impressions,clicks\nrunners/v0,0,0\n", ":2: impressions must be more than 0"),
    ("variant,impressions,clicks\n", ": no result rows under the header"),
])  # fmt: skip
def test_bad_results_files_name_the_file_and_line(tmp_path, text, message):
    csv = tmp_path / "bad.csv"
    csv.write_text(text)
    with pytest.raises(CalibrationError) as err:
        read_results(csv, KEYS)
    assert str(err.value).startswith(str(csv)) and message in str(err.value)


def test_cli_calibrates_the_newest_run_with_a_panel_and_refuses_one_without(ws):
    runner = CliRunner()
    home = ["--workdir", str(ws.root)]
    refused = runner.invoke(app, [*home, "audience", "calibrate", str(RESULTS)])
    assert refused.exit_code == 2 and "no run in the workspace has a computed audience panel" in refused.output
    ws.store.save_audience("r", "runners", 1, {"computed": False, "reason": "no LLM endpoint is configured"})
    store_panel(ws, {"students/v0": 2.0, "students/v1": 4.0})
    missing = runner.invoke(app, [*home, "audience", "calibrate", str(RESULTS), "--run", "r"])
    assert missing.exit_code == 2 and "no score for runners/v0, runners/v1" in missing.output
    assert "runners: no LLM endpoint is configured" in missing.output
    store_panel(ws, {"runners/v0": 3.0, "runners/v1": 6.0})
    done = runner.invoke(app, [*home, "audience", "calibrate", str(RESULTS), "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.output.strip().splitlines()[-1])
    assert result["run_id"] == "r" and result["spearman"]["value"] == 1.0
    text = runner.invoke(app, [*home, "audience", "calibrate", str(RESULTS)]).output
    assert "spearman: +1.00 [" in text and "students: panel top students/v1, observed top students/v1 (agrees)" in text


def test_rank_correlations_match_scipy_with_ties():
    from scipy.stats import kendalltau, spearmanr

    from agent.audience.calibrate import rank_correlations

    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 4, (50, 6)).astype(float), rng.integers(0, 4, (50, 6)).astype(float)
    rho, tau = rank_correlations(x, y)
    for b in range(50):
        if np.ptp(x[b]) and np.ptp(y[b]):
            assert rho[b] == pytest.approx(spearmanr(x[b], y[b]).statistic)
            assert tau[b] == pytest.approx(kendalltau(x[b], y[b]).statistic)
        else:
            assert np.isnan(rho[b]) and np.isnan(tau[b])
