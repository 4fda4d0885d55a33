"""Licenses per backend and model, the brief's `usage`, refusal before anything renders, and acceptance."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.brief import BackendChoice, load_brief
from agent.cli import app
from agent.errors import LicenseRefused
from agent.licensing import check_licenses, run_licenses
from agent.profiles import resolve_choices
from agent.settings import Overrides, Settings, apply_overrides
from agent.store import Store
from generators.base import REGISTRIES
from generators.licenses import KNOWN, UNVERIFIED, card_license, license_line, lookup

ROOT = Path(__file__).parents[1]
BRIEF = ROOT / "briefs" / "bumper.yaml"


def choices_for(brief, **overrides):
    brief = apply_overrides(brief, Overrides(profile="preview", **overrides))
    return brief, resolve_choices(brief, Settings.from_env({}))


def test_every_known_license_names_its_source_and_the_readme_lists_it() -> None:
    readme = (ROOT / "README.md").read_text()
    for prefix, lic in KNOWN:
        assert lic.source.startswith("https://"), prefix
        assert prefix in readme, f"README license table lacks {prefix}"
    for prefix in UNVERIFIED:
        assert prefix in readme and lookup(prefix).commercial is None


def test_facts_from_the_model_cards() -> None:
    assert lookup("facebook/musicgen-small").commercial is False
    assert lookup("cvssp/audioldm2-music").name == "CC-BY-NC-SA-4.0"
    sao = lookup("stabilityai/stable-audio-open-1.0")
    assert sao.commercial and any("US$1M" in r for r in sao.restrictions) and any("gated" in r for r in sao.restrictions)
    assert any("European Union" in r for r in lookup("hunyuanvideo-community/HunyuanVideo").restrictions)
    assert lookup("someone/unknown-model") is None
    assert license_line("Lightricks/LTX-Video").startswith("license unknown: the license depends on the checkpoint")


def test_a_local_model_card_states_its_license(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("---\nlicense: cc-by-nc-4.0\ntags: [x]\n---\n# my fine-tune\nlicense: mit\n")
    lic = card_license(tmp_path)
    assert lic.name == "CC-BY-NC-4.0" and lic.commercial is False and lic.source == str(tmp_path / "README.md")
    assert lookup(str(tmp_path)).commercial is False


def test_every_registered_backend_declares_its_licenses() -> None:
    for kind, registry in REGISTRIES.items():
        for name in registry.names():
            cls = registry.get(name)
            options = {"model": "facebook/musicgen-small"} if "model" in cls.Options.model_fields and \
                cls.Options.model_fields["model"].is_required() else {}
            declared = cls(options).licenses(["en"] if kind == "voice" else None)
            assert declared and all({"model", "role", "name", "commercial"} <= set(d) for d in declared), name


def test_offline_backends_are_cleared_for_commercial_use() -> None:
    brief, choices = choices_for(load_brief(BRIEF))
    lics = run_licenses(brief, choices)
    assert {(x["backend"], x["name"]) for x in lics} >= {("animatic", "Apache-2.0"), ("synth", "Apache-2.0")}
    assert check_licenses(brief, choices) == []


def test_piper_declares_the_engine_and_the_voice_license() -> None:
    voice = REGISTRIES["voice"].create("piper")
    if not _piper_voices():
        pytest.skip("no piper voice installed (the voice extra)")
    lics = {d["role"]: d for d in voice.licenses(["en"])}
    assert lics["engine"]["name"] == "GPL-3.0-or-later" and lics["voice"]["name"] == "CC0-1.0"
    assert lics["voice"]["commercial"] is True


def _piper_voices() -> list:
    from generators.voice_piper import installed_voices

    return installed_voices()


def test_a_commercial_brief_with_non_commercial_weights_is_refused_naming_backend_model_license() -> None:
    brief = load_brief(BRIEF)
    assert brief.usage == "commercial"  # the safe default
    brief, choices = choices_for(brief, audio_model="facebook/musicgen-small")
    with pytest.raises(LicenseRefused) as err:
        check_licenses(brief, choices)
    text = str(err.value)
    assert "audio backend 'musicgen'" in text and "'facebook/musicgen-small'" in text and "CC-BY-NC-4.0" in text
    assert "--accept-license facebook/musicgen-small" in text and err.value.exit_code == 2
    internal = brief.model_copy(update={"usage": "internal"})
    with pytest.raises(LicenseRefused):  # use inside a business is not non-commercial use
        check_licenses(internal, choices)
    assert check_licenses(brief.model_copy(update={"usage": "non-commercial"}), choices) == []


def test_an_accepted_license_runs_with_a_note_and_a_fallback_chain_is_checked_too() -> None:
    brief, choices = choices_for(load_brief(BRIEF), audio_model="facebook/musicgen-small",
                                 accept_licenses=["facebook/musicgen-small"])
    notes = check_licenses(brief, choices)
    assert brief.accept_licenses == ["facebook/musicgen-small"]
    assert any("accepted by you" in n and "facebook/musicgen-small" in n for n in notes)
    chained = choices.model_copy(update={"audio": BackendChoice(backend="synth"), "audio_fallbacks": [
        BackendChoice(backend="audioldm2", options={"model": "cvssp/audioldm2-music"})]})
    with pytest.raises(LicenseRefused, match="cvssp/audioldm2-music"):
        check_licenses(brief, chained)


def test_cli_refuses_before_anything_is_written(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--workdir", str(tmp_path / "ws"), "run", str(BRIEF), "--profile", "preview",
                                      "--audio-model", "facebook/audiogen-medium"])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert re.search(r"audio backend 'audiogen', weights 'facebook/audiogen-medium': CC-BY-NC-4.0", line)
    assert "\n" not in line
    store = Store(tmp_path / "ws" / "briefcut.db") if (tmp_path / "ws" / "briefcut.db").exists() else None
    assert store is None or store.runs(10) == []
    assert not list((tmp_path / "ws").rglob("*.mp4"))
