"""The graph's nodes and routers, one at a time, on a tiny run (template planner, animatic, synth, tiny
CLIP, 64 px, 2 s): each node returns only the keys it changes; routers are pure; scoring is done once."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from agent.brief import load_brief
from agent.context import RunContext
from agent.edit.parse import parse_edit
from agent.edit.request import EditRequest
from agent.graph import compile_graph
from agent.jobs import load_plans
from agent.nodes import (
    assemble_node,
    edit_node,
    fan_out,
    plan_node,
    refine_node,
    render_node,
    route_after_review,
    route_after_score,
    score_node,
)
from agent.profiles import resolve_choices
from agent.runs_view import run_details, show_text
from agent.scoring import add_check
from agent.settings import Overrides, Settings, apply_overrides
from agent.workspace import Workspace
from evaluators.scorecard import CutCheck

ROOT = Path(__file__).parents[1]


# 1. routers: pure functions of the state (and the brief's refine budget) ---------------------------
def refine_budget(max_rounds: int = 1, max_rerenders: int = 4) -> Runtime:
    refine = SimpleNamespace(max_rounds=max_rounds, max_rerenders=max_rerenders)
    return Runtime(context=SimpleNamespace(brief=SimpleNamespace(refine=refine)))


@pytest.mark.parametrize("state, expected", [
    ({"weak": [{"shot": 0}], "round": 0, "rerenders_used": 0}, "refine"),
    ({"weak": [], "round": 0, "rerenders_used": 0}, "assemble"),
    ({"weak": [{"shot": 0}], "round": 1, "rerenders_used": 0}, "assemble"),  # rounds spent
    ({"weak": [{"shot": 0}], "round": 0, "rerenders_used": 4}, "assemble"),  # re-renders spent
    ({"weak": [{"shot": 0}], "round": 0, "edit": {"ops": [{}]}}, "assemble"),  # never refine a person's edit
])  # fmt: skip
def test_route_after_score(state: dict, expected: str) -> None:
    assert route_after_score({"run_id": "r", **state}, refine_budget()) == expected


def test_route_after_review() -> None:
    assert route_after_review({"run_id": "r", "edit": {"ops": [{"op": "music", "mood": "calm"}]}}) == "edit"
    assert route_after_review({"run_id": "r", "edit": None}) == END
    assert route_after_review({"run_id": "r"}) == END


def test_fan_out_sends_one_render_per_job_or_goes_straight_to_scoring() -> None:
    runtime = Runtime(context=SimpleNamespace(progress=SimpleNamespace(begin=lambda *a: None)))
    assert fan_out({"run_id": "r", "pending": []}, runtime) == "score"
    jobs = [{"kind": "video", "shot": 0}, {"kind": "music", "shot": -1}]
    sends = fan_out({"run_id": "r", "pending": jobs}, runtime)
    assert sends == [Send("render", {"job": j, "run_id": "r"}) for j in jobs]


# 2. nodes on a tiny run ---------------------------------------------------------------------------
@pytest.fixture
def tiny_run(tmp_path: Path, tiny_clip: Path) -> RunContext:
    """A stored run of a 2 s, 64 px, one-format brief with a product image, scored by the tiny CLIP."""
    data = yaml.safe_load((ROOT / "briefs" / "bumper.yaml").read_text())
    data["formats"].update(duration_s=3, resolution=64, aspect_ratios=["1:1"])
    data["variants"] = 1
    data["product"]["reference_image"] = str(ROOT / "briefs" / "assets" / "lumen-bottle.png")
    data["render"] = {"clip_model": str(tiny_clip)}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    ws = Workspace.at(tmp_path / "ws", Settings.from_env({}))
    brief = apply_overrides(load_brief(path, [ROOT / "briefs"]), Overrides(profile="preview"))  # its image is there
    choices = resolve_choices(brief, ws.settings)
    ws.store.create_run({"id": "tiny", "brief_path": str(path), "brief": brief.model_dump(mode="json"),
                         "choices": choices.model_dump(mode="json"), "out_dir": str(tmp_path / "out")})  # fmt: skip
    yield RunContext("tiny", brief, choices, ws, tmp_path / "out")
    ws.close()


def test_plan_node_plans_once_and_asks_for_every_take(tiny_run: RunContext) -> None:
    runtime = Runtime(context=tiny_run)
    out = plan_node({"run_id": "tiny"}, runtime)
    assert set(out) == {"round", "rerenders_used", "version", "pending"}
    plan = load_plans(tiny_run)["gamers/v0"]
    kinds = [j["kind"] for j in out["pending"]]
    assert kinds.count("video") == len(plan.shots) and kinds.count("music") == 1
    assert [s.uid for s in plan.shots] == [f"s{i}" for i in range(len(plan.shots))]  # stamped
    assert plan_node({"run_id": "tiny"}, runtime)["pending"] == out["pending"]  # resumed: same plan, same jobs
    assert len(tiny_run.store.plans("tiny")) == 1


def test_render_score_refine_assemble_and_edit(tiny_run: RunContext) -> None:
    runtime = Runtime(context=tiny_run)
    state = {"run_id": "tiny", **plan_node({"run_id": "tiny"}, runtime)}
    # render: workers write takes to the store, nothing to the state
    for job in state["pending"]:
        assert render_node({"job": job, "run_id": "tiny"}, runtime) == {}
    assert {t["kind"] for t in tiny_run.store.takes("tiny")} >= {"video", "music"}
    # score: every cut's card stored once per pass; the configuration and reference resolved once per run
    state |= score_node(state, runtime)
    assert set(score_node(state, runtime)) == {"weak", "pending"}
    card = tiny_run.store.scorecard("tiny", "gamers/v0", "1:1", 1)
    assert card["shots"][0]["metrics"]["product_consistency"] is not None and card["shots"][0]["take"]
    stats = tiny_run.scorer.stats
    assert stats["configs_built"] == 1 and stats["reference_embeds"] == 1
    assert stats["takes_scored"] == len(load_plans(tiny_run)["gamers/v0"].shots)  # each take scored once
    # refine: a weak shot is revised with a new seed and only it is rendered again
    weak = [{"plan_key": "gamers/v0", "shot": 1, "uid": "s1", "feedback": "Shot 2: the picture freezes"}]
    out = refine_node({**state, "weak": weak, "round": 0, "rerenders_used": 0}, runtime)
    assert set(out) == {"round", "rerenders_used", "pending"} and (out["round"], out["rerenders_used"]) == (1, 1)
    assert {(j["kind"], j["shot"], j["round"]) for j in out["pending"]} == {("video", 1, 1)}
    assert load_plans(tiny_run)["gamers/v0"].shots[1].seed_offset == 1
    for job in out["pending"]:
        render_node({"job": job, "run_id": "tiny"}, runtime)
    score_node({**state, **out}, runtime)
    # assemble: cuts from the stored cards; the run is done
    out = assemble_node({**state, "version": 1}, runtime)
    assert set(out) == {"cuts", "edit"} and out["edit"] is None
    assert Path(out["cuts"][0]["path"]).exists() and tiny_run.store.run("tiny")["status"] == "done"
    assert tiny_run.scorer.stats["reference_embeds"] == 1
    # another judge adds a per-cut check where delivery, reports and views read the card
    add_check(tiny_run.store, "tiny", ("gamers/v0", "1:1", 1),
              CutCheck(name="audience", passed=False, value=0.41, detail="students prefer v1", source="audience"))  # fmt: skip
    details = run_details(tiny_run.workspace, "tiny")
    checks = {c["name"]: c for c in details["cuts"][0]["scorecard"]["checks"]}
    assert checks["audience"]["pass"] is False and checks["compliance"]["pass"] is True
    assert "check audience: FAILED 0.41: students prefer v1" in show_text(details)
    # edit: a caption renders nothing (motion's type is a layer assembly draws, not in the take), no music;
    # a new version with its diff
    request = EditRequest(run_id="tiny", message="caption 1: Hi", plan_keys=["gamers/v0"], ops=parse_edit("caption 1: Hi"))
    out = edit_node({"run_id": "tiny", "version": 1, "edit": request.model_dump(mode="json")}, runtime)
    assert set(out) == {"pending", "version", "diff"} and out["version"] == 2
    assert tiny_run.choices.video.backend == "motion" and out["pending"] == []
    assert out["diff"]["gamers/v0"] == ['shot 1 caption: "Made for late-night gamers. 30 hours. Zero wires." -> "Hi"']


def test_the_tiny_graph_runs_plan_to_review_then_applies_an_edit(tiny_run: RunContext) -> None:
    """The wired graph with an in-memory checkpointer: the nodes in order, an interrupt at review,
    and an edit resumed into a second version."""
    graph = compile_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "tiny"}}
    steps = [next(iter(update)) for update in graph.stream({"run_id": "tiny"}, config, context=tiny_run,
                                                              stream_mode="updates")]  # fmt: skip
    order = [s for i, s in enumerate(steps) if s != "render" or steps[i - 1] != "render"]
    assert order[0] == "plan" and order[1] == "render" and "score" in order
    assert order[-3:] == ["assemble", "audience", "__interrupt__"]
    request = EditRequest(run_id="tiny", message="music: calm", plan_keys=["gamers/v0"], ops=parse_edit("music: calm"))
    steps = [next(iter(u)) for u in graph.stream(Command(resume=request.model_dump(mode="json")), config,
                                                   context=tiny_run, stream_mode="updates")]  # fmt: skip
    assert steps == ["review", "edit", "render", "score", "assemble", "audience", "__interrupt__"]  # only the music renders
    assert {c["version"] for c in tiny_run.store.cuts("tiny")} == {1, 2}


def test_a_request_made_elsewhere_is_checked_before_the_graph_runs(tiny_run: RunContext) -> None:
    """An EditRequest that did not come from prepare_edit (an HTTP client, say) and cannot apply fails
    with a PlanError; the run stays done and editable."""
    from agent.edit.session import apply_edit
    from agent.errors import PlanError

    graph = compile_graph(tiny_run.workspace.checkpointer())
    graph.invoke({"run_id": "tiny"}, {"configurable": {"thread_id": "tiny"}}, context=tiny_run)
    assert tiny_run.store.run("tiny")["status"] == "done"
    bad = EditRequest(run_id="tiny", plan_keys=["gamers/v0"], ops=parse_edit("drop shot 9"))
    with pytest.raises(PlanError, match="shot 9 is not in the plan"):
        apply_edit(tiny_run.workspace, bad)
    with pytest.raises(PlanError, match="has no plan nobody/v0"):
        apply_edit(tiny_run.workspace, bad.model_copy(update={"plan_keys": ["nobody/v0"]}))
    assert tiny_run.store.run("tiny")["status"] == "done"
    # the workspace compiles the graph once; closed, it opens its checkpointer again and compiles anew
    from agent.runner import graph_waits_for_edit

    compiled = tiny_run.workspace.graph()
    assert tiny_run.workspace.graph() is compiled and graph_waits_for_edit(tiny_run)
    tiny_run.workspace.close()
    assert tiny_run.workspace.graph() is not compiled and graph_waits_for_edit(tiny_run)


def test_a_ctrl_c_a_library_swallowed_still_stops_the_run(tiny_run: RunContext) -> None:
    """The process's SIGINT/SIGTERM handler remembers the request as it raises: a KeyboardInterrupt caught
    on its way up (as a future's done-callback that catches BaseException can) still stops the run, marked
    interrupted, resumable."""
    import signal

    from agent import faults
    from agent.errors import RunInterrupted
    from agent.runner import drive

    try:
        try:
            faults.interrupt(signal.SIGINT, None)
        except BaseException:  # a library swallowing it
            pass
        with pytest.raises(RunInterrupted, match="briefcut resume tiny"):
            drive(tiny_run, {"run_id": "tiny"})
        assert tiny_run.store.run("tiny")["status"] == "interrupted"
    finally:
        faults.INTERRUPTED.clear()
    assert drive(tiny_run, {"run_id": "tiny"})["status"] == "done"  # nothing asked to stop now: it finishes
