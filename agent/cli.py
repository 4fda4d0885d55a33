"""The briefcut command line (typer). Thin: each command parses, calls the spine, prints.

Errors become one line on stderr and an exit code: 2 for bad input, 1 for failures at run time.
With --json, stdout's last line is one JSON object.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

app = typer.Typer(help="A creative brief in, scored and finished ad cuts out.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)  # fmt: skip
runs_app = typer.Typer(help="Inspect runs in the workspace.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
audience_app = typer.Typer(help="The persona panel (a heuristic) and its check against real results.",
                           no_args_is_help=True)
app.add_typer(audience_app, name="audience")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object as the last line of stdout.")]
DraftOpt = Annotated[bool, typer.Option("--draft", help="A storyboard draft (the animatic video): fast, to check "
                                                         "timing and copy before the motion-graphics cut.")]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="preview | smoke | gpu (default: gpu with CUDA, else preview).")
]
AcceptOpt = Annotated[list[str] | None, typer.Option(
    "--accept-license", metavar="MODEL",
    help="Use MODEL although its license forbids the brief's `usage` (repeatable); recorded in the provenance.")]


class State:
    settings: Any = None  # agent.settings.Settings, read once in main_options


@app.callback()
def main_options(
    workdir: Annotated[
        Path | None,
        typer.Option("--workdir", help="Workspace: database + media cache [env BRIEFCUT_HOME, else ./.briefcut]."),
    ] = None,
    sign_cert: Annotated[Path | None, typer.Option(
        "--sign-cert", help="Sign delivered cuts with C2PA: a PEM certificate chain [env BRIEFCUT_SIGN_CERT].")] = None,
    sign_key: Annotated[Path | None, typer.Option(
        "--sign-key", help="The PEM private key of --sign-cert [env BRIEFCUT_SIGN_KEY].")] = None,
) -> None:
    """briefcut: turn a creative brief into finished, scored ad cuts."""
    from agent.settings import Settings

    State.settings = Settings.from_env(home=workdir, sign_cert=sign_cert, sign_key=sign_key)


AssetsRootOpt = Annotated[
    list[Path] | None,
    typer.Option("--assets-root", help="A folder the brief's asset paths may point into besides the brief's "
                                       "own (repeatable) [env BRIEFCUT_ASSETS_ROOT]."),
]  # fmt: skip


def settings(assets_roots: list[Path] | None = None) -> Any:
    """This command's settings (read once), with the command line's assets roots added."""
    from agent.settings import Settings

    return (State.settings or Settings.from_env()).with_assets_roots(assets_roots)


@contextmanager
def workspace(assets_roots: list[Path] | None = None, reading: bool = False):
    """The command's workspace: its store and checkpointer are opened once and closed at the end.
    A command that only reads (`reading`) opens it read-only where it cannot be written."""
    import os

    from agent.workspace import Workspace

    ws = Workspace.at(settings=settings(assets_roots))
    if reading and not (os.access(ws.root, os.W_OK) and (not ws.db_path.exists() or os.access(ws.db_path, os.W_OK))):
        ws.read_only = True
    with ws:
        yield ws


def cli_errors(fn: Callable) -> Callable:
    """Turn briefcut's typed errors (and unexpected ones) into one stderr line and an exit code."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from agent.errors import BriefcutError, RunInterrupted, storage_error

        try:
            return fn(*args, **kwargs)
        except RunInterrupted as exc:
            typer.echo(f"briefcut: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except BriefcutError as exc:
            typer.echo(f"briefcut: error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            typer.echo("briefcut: interrupted; finished takes are kept: `briefcut runs ls`, then "
                       "`briefcut resume RUN` finishes the run", err=True)  # fmt: skip
            raise typer.Exit(130) from None
        except Exception as exc:  # a failure at run time: one line, the run stays resumable
            error = storage_error(exc)
            typer.echo(f"briefcut: error: {error or f'{type(exc).__name__}: {exc}'}", err=True)
            raise typer.Exit(1) from None

    return wrapper


def emit(result: dict, as_json: bool, human: Callable[[dict], None]) -> None:
    if as_json:
        typer.echo(json.dumps(result, default=str))
    else:
        human(result)


# run / resume ------------------------------------------------------------------------------------
@app.command()
@cli_errors
def run(
    brief: Annotated[Path, typer.Argument(help="The brief YAML file.")],
    profile: ProfileOpt = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the cuts [WORKDIR/runs/RUN].")] = None,
    planner: Annotated[str | None, typer.Option("--planner", help="template | openai")] = None,
    llm_model: Annotated[str | None, typer.Option("--llm-model", help="Model name for the openai planner "
                                                     "[env BRIEFCUT_LLM_MODEL].")] = None,  # fmt: skip
    video: Annotated[str | None, typer.Option("--video", help="Video backend name.")] = None,
    video_model: Annotated[str | None, typer.Option("--video-model", help="Model id or path (diffusers).")] = None,
    audio: Annotated[str | None, typer.Option("--audio", help="Audio backend name.")] = None,
    audio_model: Annotated[str | None, typer.Option("--audio-model", help="Audio model id or path.")] = None,
    clip_model: Annotated[str | None, typer.Option("--clip-model", help="CLIP model id or path for scoring.")] = None,
    resolution: Annotated[int | None, typer.Option("--resolution", min=64, max=2160,
                                                   help="Short side in pixels, overriding the brief's (drafts).")] = None,  # fmt: skip
    draft: DraftOpt = False,
    assets_root: AssetsRootOpt = None,
    accept_license: AcceptOpt = None,
    preset: Annotated[str | None, typer.Option("--preset", help="x264 preset of the cuts (ultrafast ... veryslow) "
                                               "[the profile's: preview ultrafast, else veryfast].")] = None,  # fmt: skip
    fresh: Annotated[bool, typer.Option("--fresh", help="A new run even where a finished run of the same brief, "
                                        "settings and code already holds the cuts.")] = False,  # fmt: skip
    as_json: JsonOpt = False,
) -> None:
    """Run a brief end to end: plan, render, score, refine, assemble. Run again with nothing changed, it
    answers with the finished run that holds the cuts (--fresh: a new run, takes from the cache)."""
    from agent.brief import load_brief
    from agent.runner import repeat_or_start
    from agent.settings import cli_overrides, draft_video

    overrides = cli_overrides(profile=profile, planner=planner, llm_model=llm_model, video=draft_video(draft, video),
                              video_model=video_model, audio=audio, audio_model=audio_model, clip_model=clip_model,
                              resolution=resolution, accept_licenses=accept_license, preset=preset)  # fmt: skip
    loaded = load_brief(brief, settings(assets_root).assets_roots)  # a bad brief stops here: nothing written
    with workspace(assets_root) as ws, progress_bar(as_json) as bar:
        result = repeat_or_start(brief, ws, overrides=overrides, out=out, progress=bar, brief=loaded, fresh=fresh)
    emit(result, as_json, print_summary)


@app.command()
@cli_errors
def resume(
    run_id: Annotated[str, typer.Argument(help="The run to finish.")],
    llm_url: Annotated[str | None, typer.Option("--llm-url", help="Another LLM endpoint than the one the run "
                                                   "recorded (e.g. http://127.0.0.1:8080/v1).")] = None,  # fmt: skip
    llm_model: Annotated[str | None, typer.Option("--llm-model", help="Another LLM model than the recorded one.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Finish a run whose process stopped; finished takes are not rendered again. An LLM-planned run
    uses the endpoint it recorded (--llm-url / --llm-model choose another)."""
    from agent.runner import resume_run

    with workspace() as ws, progress_bar(as_json) as bar:
        result = resume_run(run_id, ws, progress=bar, llm={"base_url": llm_url, "model": llm_model})
    emit(result, as_json, print_summary)


def print_summary(result: dict) -> None:
    typer.echo(f"run {result['run_id']}: {result['status']}")
    for cut in result["cuts"]:
        card = result["scorecard"].get(Path(cut["path"]).stem, {})
        score = card.get("composite")
        score_text = f"  score {score:.2f}" if isinstance(score, (int, float)) else ""
        typer.echo(f"  {cut['segment']} v{cut['variant']} {cut['format']:>5}  {cut['duration_s']:.2f} s"
                   f"{score_text}  {cut['path']}")  # fmt: skip


# edit / chat -----------------------------------------------------------------------------------
PlanOpt = Annotated[str | None, typer.Option("--plan", help="Edit one plan (e.g. runners/v0); default: all.")]
MessageOpt = Annotated[str, typer.Option("-m", "--message", help='The change, e.g. "make the second shot darker".')]


@app.command()
@cli_errors
def edit(run_id: Annotated[str, typer.Argument(help="A finished run.")], message: MessageOpt,
         plan: PlanOpt = None, as_json: JsonOpt = False) -> None:  # fmt: skip
    """Change a finished run by one message ("help" lists what you can say); only what the edit touches
    is rendered again, and the cuts come out as a new version."""
    from agent.edit.parse import HelpRequested
    from agent.edit.session import apply_edit, prepare_edit

    with workspace() as ws:
        try:
            request = prepare_edit(ws, run_id, message, plan)
        except HelpRequested as exc:
            typer.echo(str(exc))
            return
        if not as_json:
            typer.echo(request.describe())
        with progress_bar(as_json) as bar:
            result = apply_edit(ws, request, progress=bar)
    emit(result, as_json, print_summary)


@app.command(help="Alias of `edit` (its former name; `refine` now means the automatic re-render loop).")
@cli_errors
def refine(run_id: Annotated[str, typer.Argument(help="A finished run.")], message: MessageOpt,
           plan: PlanOpt = None, as_json: JsonOpt = False) -> None:  # fmt: skip
    typer.echo("briefcut: note: `briefcut refine` is now `briefcut edit` (same options)", err=True)
    edit(run_id, message, plan, as_json)


@app.command()
@cli_errors
def chat(run_id: Annotated[str, typer.Argument(help="A finished run.")], plan: PlanOpt = None) -> None:
    """Talk to a finished run: each message becomes edits, shown for confirmation, then applied."""
    from agent.edit.parse import GRAMMAR, HelpRequested
    from agent.edit.session import apply_edit, prepare_edit
    from agent.errors import PlanError

    typer.echo(f"Editing run {run_id}. Say what to change (empty line or 'quit' to stop), e.g.:\n{GRAMMAR}")
    with workspace() as ws:
        while True:
            message = typer.prompt("you", default="", show_default=False).strip()
            if message.lower() in ("", "quit", "exit", "q"):
                return
            try:
                request = prepare_edit(ws, run_id, message, plan)
            except HelpRequested as exc:
                typer.echo(str(exc))
                continue
            except PlanError as exc:
                typer.echo(f"briefcut: {exc}", err=True)
                continue
            typer.echo(request.describe())
            if not typer.confirm("apply these edits?", default=True):
                continue
            with progress_bar(False) as bar:
                result = apply_edit(ws, request, progress=bar)
            print_summary(result)  # after the bar is gone, so a terminal shows the new cuts and scores


# runs ------------------------------------------------------------------------------------------
@runs_app.command("ls")
@cli_errors
def runs_ls(as_json: JsonOpt = False, limit: int = 20) -> None:
    """List recent runs."""
    with workspace(reading=True) as ws:
        rows = ws.store.runs(limit) if ws.db_path.exists() else []
    items = [{k: r[k] for k in ("id", "status", "profile", "planner", "brief_path", "created_at")} for r in rows]
    if as_json:
        typer.echo(json.dumps({"runs": items}))
        return
    for r in items:
        typer.echo(f"{r['id']}  {r['status']:<8} {r['profile']:<8} {r['planner']:<9} {r['brief_path']}")


@runs_app.command("show")
@cli_errors
def runs_show(run_id: str, as_json: JsonOpt = False) -> None:
    """Show a run: its cuts, scorecards, plans, takes and events."""
    from agent.runs_view import run_details, show_text

    with workspace(reading=True) as ws:
        details = run_details(ws, run_id)
    emit(details, as_json, lambda d: typer.echo(show_text(d)))


# audience ----------------------------------------------------------------------------------------
@audience_app.command("panel")
@cli_errors
def audience_panel(
    run_id: Annotated[str, typer.Argument(help="A finished run.")],
    again: Annotated[bool, typer.Option("--again", help="Ask again where the panel was computed already.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the persona panel on a finished run's latest cuts, for segments where it was not computed
    (e.g. no endpoint was configured then). A heuristic: check it with `audience calibrate`."""
    from agent.audience.run import audience_for_run, audience_text

    with workspace() as ws, progress_bar(as_json) as bar:
        result = audience_for_run(ws, run_id, again=again, progress=bar)
    emit(result, as_json, lambda r: typer.echo(audience_text(r)))


@audience_app.command("calibrate")
@cli_errors
def audience_calibrate(
    results: Annotated[Path, typer.Argument(metavar="RESULTS.csv", help="Real A/B results: variant, impressions, "
                                            "clicks or view_through (optional: segment, run).")],  # fmt: skip
    run_id: Annotated[str | None, typer.Option("--run", help="The run the results belong to (default: the CSV's "
                                               "run column, else the newest run with a computed panel).")] = None,  # fmt: skip
    metric: Annotated[str | None, typer.Option("--metric", help="clicks | view_through, when the CSV has both.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """How well the panel's ranking predicted real results: rank correlation with its bootstrap interval."""
    from agent.audience.calibrate import calibrate, calibration_text, results_run

    with workspace() as ws:
        run = results_run(ws.store, results, run_id, metric)
        result = calibrate(ws.store, run, results, metric)
        ws.store.event(run, "audience_calibrated", result)
    emit(result, as_json, lambda r: typer.echo(calibration_text(r)))


# schema / backends / doctor ----------------------------------------------------------------------
@app.command()
def schema() -> None:
    """Print the brief's JSON Schema."""
    from agent.brief import Brief

    typer.echo(json.dumps(Brief.model_json_schema(), indent=2))


@app.command()
def backends(as_json: JsonOpt = False) -> None:
    """List the backends of every kind by name."""
    from agent.planners import PLANNERS
    from generators.base import REGISTRIES

    found = {kind: reg.names() for kind, reg in REGISTRIES.items()} | {"planner": PLANNERS.names()}
    emit(found, as_json, lambda f: [typer.echo(f"{k:<8} {', '.join(v)}") for k, v in f.items()])


@app.command()
@cli_errors
def doctor(
    smoke: Annotated[bool, typer.Option("--smoke", help="Render one take with every backend on tiny models.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check the environment: tools, models in the local cache, and (--smoke) every backend."""
    from agent.doctor import doctor_report, print_report

    with workspace() as ws:
        report = doctor_report(ws, smoke=smoke)
    emit(report, as_json, print_report)
    if smoke and not all(b["ok"] for b in report.get("backends", [])):
        raise typer.Exit(1)


# progress ----------------------------------------------------------------------------------------
@contextmanager
def progress_bar(quiet: bool):
    """A rich progress bar on stderr for long stages (plan, render, score, assemble)."""
    from agent.progress import RichProgress

    bar = RichProgress(enabled=sys.stderr.isatty() or not quiet)
    with bar:
        yield bar


# batch / report ----------------------------------------------------------------------------------
@app.command()
@cli_errors
def batch(
    briefs: Annotated[list[Path] | None, typer.Argument(help="Brief YAML files.")] = None,
    segments: Annotated[str | None, typer.Option("--segments", help="Only these segments: a,b.")] = None,
    variants: Annotated[int | None, typer.Option("--variants", min=1, max=20, help="Variants per segment.")] = None,
    formats: Annotated[str | None, typer.Option("--formats", help="Aspect ratios: 16:9,9:16.")] = None,
    profile: ProfileOpt = None,
    executor: Annotated[str | None, typer.Option("--executor", help="local | ray (default: local).")] = None,
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster address (ray executor) "
                                                   "[env RAY_ADDRESS].")] = None,  # fmt: skip
    workers: Annotated[int | None, typer.Option("--workers", min=1, max=64, help="Runs in flight at once (default: 2).")] = None,
    resume_id: Annotated[str | None, typer.Option("--resume", help="Continue this batch.")] = None,
    fresh: Annotated[bool, typer.Option("--fresh", help="New runs even for jobs whose cuts a finished run already "
                                        "holds (nothing that decides them changed).")] = False,  # fmt: skip
    resolution: Annotated[int | None, typer.Option("--resolution", min=64, max=2160,
                                                      help="Short side in pixels, overriding the briefs' (drafts).")] = None,  # fmt: skip
    draft: DraftOpt = False,
    assets_root: AssetsRootOpt = None,
    accept_license: AcceptOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run briefs x segments x variants as one resumable batch, then write an HTML review report."""
    from agent.batch.queue import BatchError, make_options, run_batch, summary_text
    from agent.settings import draft_video

    if not briefs and not resume_id:
        raise BatchError("give brief files, or --resume BATCH")
    given = {"segments": segments and segments.split(","), "variants": variants, "profile": profile,
             "formats": formats and formats.split(","), "executor": executor, "address": address,
             "workers": workers, "resolution": resolution, "video": draft_video(draft, None), "fresh": fresh or None,
             "accept_licenses": accept_license}  # fmt: skip
    opts = make_options(given, State.settings)
    with workspace(assets_root) as ws, progress_bar(as_json) as bar:
        result = run_batch(ws, briefs, opts, resume=resume_id, progress=bar)
    keys = ("batch_id", "status", "cuts", "report", "jobs", "pool_loads")
    emit({k: result[k] for k in keys}, as_json, lambda r: typer.echo(summary_text(r)))
    if result["status"] != "done":
        raise typer.Exit(1)


@app.command()
@cli_errors
def report(
    ident: Annotated[str, typer.Argument(metavar="RUN|BATCH", help="A run id or a batch id.")],
    out: Annotated[Path | None, typer.Option("--out", help="Report folder (default: WORKDIR/reports/RUN or WORKDIR/batches/BATCH).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a static HTML review report (index.html + media) of a run or a batch."""
    from agent.report import report_for

    with workspace(reading=out is not None) as ws:
        path = report_for(ws, ident, out)
    emit({"report": str(path)}, as_json, lambda r: typer.echo(r["report"]))


# serve -------------------------------------------------------------------------------------------
@app.command()
@cli_errors
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (another than loopback needs --token).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8765,
    token: Annotated[str | None, typer.Option("--token", envvar="BRIEFCUT_STUDIO_TOKEN",
                                              help="Access token every request must carry.")] = None,  # fmt: skip
    briefs: Annotated[Path | None, typer.Option("--briefs", help="Folder briefs are opened from and whose "
                                                   "assets they may use (default: the current folder).")] = None,  # fmt: skip
    threads: Annotated[int, typer.Option("--threads", min=1, max=8, help="Runs rendered at once.")] = 1,
) -> None:
    """Open the studio: a local web app to write briefs, watch runs, review, edit by chat and export."""
    from agent.studio.security import check_bind
    from agent.studio.server import serve_studio

    check_bind(host, token)
    with workspace() as ws:
        serve_studio(ws, host=host, port=port, token=token, briefs_root=(briefs or Path.cwd()).resolve(),
                     threads=threads)  # fmt: skip


# verify / reproduce ------------------------------------------------------------------------------
@app.command()
@cli_errors
def verify(
    file: Annotated[Path, typer.Argument(help="A cut (MP4) to check.")],
    workspace_dir: Annotated[Path | None, typer.Option("--workspace", help="The producer's workspace: find the run "
                                                       "and cut the file came from.")] = None,  # fmt: skip
    trust: Annotated[Path | None, typer.Option("--trust-anchors", help="PEM CA certificates to check the signer "
                                               "against [env BRIEFCUT_TRUST_ANCHORS].",
                                               envvar="BRIEFCUT_TRUST_ANCHORS")] = None,  # fmt: skip
    as_json: JsonOpt = False,
) -> None:
    """Check a cut: its C2PA manifest (valid, invalid, absent), provenance tags, watermark and, with
    --workspace, the run and cut it came from. Exit 0 verified, 1 tampered or unverifiable, 2 bad input."""
    from agent.provenance.verify import NotAVideo, verification_text, verify_file
    from agent.workspace import Workspace

    if workspace_dir is not None and not (workspace_dir / "briefcut.db").is_file():
        raise NotAVideo(f"--workspace {workspace_dir}: no briefcut workspace there (no briefcut.db)")
    if workspace_dir is None:
        report = verify_file(file, None, trust)
    else:
        with Workspace.at(workspace_dir, settings=State.settings) as ws:
            report = verify_file(file, ws, trust)
    emit(report, as_json, lambda r: typer.echo(verification_text(r)))
    if not report["verified"]:
        raise typer.Exit(1)


@app.command()
@cli_errors
def reproduce(
    cut: Annotated[str, typer.Argument(help="A cut id (RUN:PLAN:FORMAT:VERSION, see `runs show --json`) or a cut's path.")],
    into: Annotated[Path | None, typer.Option("--into", help="A new, empty folder for the fresh workspace "
                                              "[a temporary folder].")] = None,  # fmt: skip
    as_json: JsonOpt = False,
) -> None:
    """Render a cut again from its recorded provenance in a fresh workspace and compare: frames and sound
    decoded, and the bytes. Exit 0 when the frames are identical, 1 when they differ."""
    from agent.provenance.reproduce import reproduce as run_reproduce
    from agent.provenance.reproduce import reproduction_text

    with workspace() as ws, progress_bar(as_json):
        result = run_reproduce(ws, cut, into)
    emit(result, as_json, lambda r: typer.echo(reproduction_text(r)))
    if not result["frames"]["equal"]:
        raise typer.Exit(1)


def main() -> None:
    import signal

    from agent.faults import interrupt

    # SIGTERM stops a run like Ctrl-C: the run is marked interrupted and temporary files are removed. Both are
    # remembered as they are raised, so one a library swallows still stops the run (agent.runner.drive).
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        app()
    except SystemExit as done:
        leave(done.code)
    leave(0)


def leave(code: Any) -> NoReturn:
    """Exit with `code` without tearing the interpreter down: freeing every module and object after a run
    (about 1,600 modules with langgraph) took half a second and leaves nothing behind that matters. The exit
    handlers still run first (temporary folders, logging) and the output is flushed; while a thread that is
    not a daemon still works, Python exits as usual, waiting for it."""
    import atexit
    import os
    import threading

    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): the message on stderr, status 1
        print(code, file=sys.stderr)
        code = 1
    if any(t is not threading.main_thread() and t.is_alive() and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
