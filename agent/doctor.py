"""`briefcut doctor`: what this machine can run, which models are cached, and a smoke render per backend."""

from __future__ import annotations

import importlib.util
import shutil
from typing import Any

import typer

from agent.workspace import Workspace


def doctor_report(workspace: Workspace, smoke: bool = False) -> dict[str, Any]:
    """Tools, packages, GPU, cached models; with `smoke`, one tiny take per backend."""
    report: dict[str, Any] = {
        "workspace": str(workspace.root),
        "tools": {"ffmpeg": _ffmpeg(), "espeak-ng": shutil.which("espeak-ng")},
        "packages": {m: importlib.util.find_spec(m) is not None for m in ("torch", "diffusers", "transformers", "ray")},
        "cuda": _cuda(),
        "llm_endpoint": workspace.settings.llm_base_url,
        "hf_offline": workspace.settings.hub_offline,
        "licenses": _licenses(),
        "text": _text_support(),
    }
    try:
        from agent.default_models import gpu_profile_choices, model_status
        from generators.licenses import license_line

        choices = gpu_profile_choices(workspace.settings)
        report["models"] = model_status(_model_ids(choices), online=not workspace.settings.hub_offline)
        for row in report["models"]:
            row["license"] = license_line(row["id"])
    except ImportError as exc:
        report["models"] = {"error": str(exc)}
    if smoke:
        from agent.smoke import doctor_smoke
        from generators.base import BackendPool

        report["backends"] = doctor_smoke(workspace.models_dir / "smoke", BackendPool())
    return report


def _text_support() -> dict[str, Any]:
    """How fonts are found, which face draws each script, and the installed piper voices."""
    from generators.fonts import describe_lookup, script_faces
    from generators.voice_piper import engine_info, installed_voices

    voices = [f"{v.name} ({v.language}, voice licence {v.license})" for v in installed_voices()]
    return {"fonts": describe_lookup(), "scripts": script_faces(), "piper": engine_info(), "piper_voices": voices}


def _licenses() -> dict[str, str]:
    """Licenses that restrict use of a backend's weights, as each backend declares them."""
    from generators.base import AUDIO, VIDEO

    found = {}
    for registry in (VIDEO, AUDIO):
        for name in registry.names():
            try:
                cls = registry.get(name)
            except Exception:  # a plugin that fails to import is reported by `backends`, not here
                continue
            if getattr(cls, "license", None):
                url = getattr(cls, "license_url", "")
                found[name] = f"{cls.license}{f' ({url})' if url else ''}: weights for non-commercial use only"
    return found


def _model_ids(choices: dict[str, Any]) -> list[str]:
    ids = []
    for choice in [choices.get("video"), choices.get("audio"), *choices.get("audio_fallbacks", [])]:
        model = getattr(choice, "options", {}).get("model") if choice is not None else None
        if model:
            ids.append(model)
    if choices.get("clip_model"):
        ids.append(choices["clip_model"])
    return ids


def _ffmpeg() -> str | None:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:
        return shutil.which("ffmpeg")


def _cuda() -> str:
    if not shutil.which("nvidia-smi"):
        return "no NVIDIA driver: the preview profile is the default"
    try:
        import torch

        if torch.cuda.is_available():
            free, total = torch.cuda.mem_get_info()
            return f"{torch.cuda.get_device_name()} ({free / 2**30:.1f} of {total / 2**30:.1f} GiB free)"
        return "driver present but torch sees no CUDA device"
    except ImportError:
        return "torch not installed"


def print_report(report: dict[str, Any]) -> None:
    typer.echo(f"workspace  {report['workspace']}")
    for name, path in report["tools"].items():
        typer.echo(f"tool       {name:<14} {path or 'missing'}")
    for name, ok in report["packages"].items():
        typer.echo(f"package    {name:<14} {'installed' if ok else 'missing'}")
    typer.echo(f"gpu        {report['cuda']}")
    typer.echo(f"llm        {report['llm_endpoint'] or 'no endpoint (template planner)'}")
    models = report.get("models")
    if isinstance(models, list):
        for m in models:
            typer.echo(f"model      {m.get('id'):<40} {'cached' if m.get('cached') else 'not cached'}"
                       f"{'' if m.get('cached') else '  (first gpu run downloads ' + str(m.get('download', '?')) + ')'}")
            typer.echo(f"           {'':<40} {m.get('license', '')}")
    for name, text in report["licenses"].items():
        typer.echo(f"license    {name:<14} {text}")
    text = report.get("text") or {}
    if text:
        typer.echo(f"fonts      {text['fonts']}")
        for script, face in text["scripts"].items():
            typer.echo(f"script     {script:<14} {face or 'NO FONT: drawn as boxes (install e.g. the Noto fonts)'}")
        typer.echo(f"piper      {text['piper']}; voices: {', '.join(text['piper_voices']) or 'none'}")
    for b in report.get("backends", []):
        status = "ok" if b["ok"] else f"FAILED: {b['error']}"
        typer.echo(f"smoke      {b['name']:<14} {b['kind']:<6} {b['seconds']:.2f} s  {status}")
