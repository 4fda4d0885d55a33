"""Content credentials, the watermark, `briefcut verify` and `briefcut reproduce` on one small signed run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from agent.cli import app
from agent.provenance import watermark as wm
from agent.provenance.credentials import read_credentials
from generators.media import X264_PARAMS

ROOT = Path(__file__).parents[1]
pytest.importorskip("c2pa", reason="the provenance extra (c2pa-python)")


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def signed_run(tmp_path_factory: pytest.TempPathFactory, signing_pair: dict) -> dict:
    """One preview run of a 4 s square spot at 256 px, signed with the throwaway CA's signer."""
    tmp = tmp_path_factory.mktemp("provenance")
    data = yaml.safe_load((ROOT / "briefs" / "bumper.yaml").read_text())
    data["formats"].update(duration_s=4, resolution=256)
    data.update(variants=1, refine={"max_rounds": 0}, accept_licenses=["someone/else"])
    brief = tmp / "brief.yaml"
    brief.write_text(yaml.safe_dump(data))
    ws = tmp / "ws"
    result = cli("--workdir", str(ws), "--sign-cert", str(signing_pair["chain"]), "--sign-key", str(signing_pair["key"]),
                 "run", str(brief), "--profile", "preview", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    return {"ws": ws, "tmp": tmp, "cut": Path(summary["cuts"][0]["path"]), "run_id": summary["run_id"]}


def verify(path: Path, *extra: str) -> tuple[int, dict]:
    result = cli("verify", str(path), "--json", *extra)
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else {}


def test_a_signed_cut_verifies_with_its_manifest_watermark_and_origin(signed_run: dict, signing_pair: dict) -> None:
    code, report = verify(signed_run["cut"], "--workspace", str(signed_run["ws"]),
                          "--trust-anchors", str(signing_pair["ca"]))
    assert code == 0 and report["verified"], report["verdict"]
    assert report["c2pa"]["status"] == "valid" and report["c2pa"]["trusted"]
    actions = report["c2pa"]["actions"]
    assert actions[0]["action"] == "c2pa.created" and actions[0]["digitalSourceType"].endswith("trainedAlgorithmicMedia")
    signed = report["c2pa"]["briefcut"]
    assert signed["brief_hash"] and signed["video"][0]["seed"] is not None and signed["usage"] == "commercial"
    assert signed["accepted"] == ["someone/else"] and any(x["backend"] == "motion" for x in signed["licenses"])
    assert report["provenance"]["found"] and report["provenance"]["data"]["watermark"] == signed["watermark"]
    # how the picture was encoded: the preview profile's encoder, in the signed record and the file's tags
    assert signed["encoder"] == report["provenance"]["data"]["encoder"] == {"codec": "libx264", "preset": "ultrafast",
                                                                             "crf": 20, "x264_params": X264_PARAMS}  # fmt: skip
    assert report["watermark"] == {**report["watermark"], "found": True, "payload": signed["watermark"]}
    assert [o["run_id"] for o in report["origin"]] == [signed_run["run_id"]] and report["origin"][0]["same_bytes"]


def test_embedding_marks_in_video_range_like_the_int16_sum_and_once_per_frame_given() -> None:
    import numpy as np

    h, w = 256, 144
    frames = [np.random.default_rng(i).integers(0, 256, (h * 3 // 2, w), dtype=np.uint8) for i in range(3)]
    frames += [np.full((h * 3 // 2, w), v, np.uint8) for v in (0, 15, 16, 19, 232, 235, 236, 255)]
    delta = wm.pattern("0123abcd", h, w)
    marked = list(wm.embed([*frames, frames[-1]], "0123abcd", w, h))
    for frame, out in zip(frames, marked, strict=False):
        assert np.array_equal(out[:h], np.clip(frame[:h].astype(np.int16) + delta, 16, 235))
        assert np.array_equal(out[h:], frame[h:]) and out is not frame
    assert marked[-1] is marked[-2]  # the same frame again (an end card): marked once


def test_one_byte_changed_in_the_media_is_tampered(signed_run: dict) -> None:
    data = bytearray(signed_run["cut"].read_bytes())
    at = data.find(b"mdat") + 4096
    data[at] ^= 0x01
    tampered = signed_run["tmp"] / "tampered.mp4"
    tampered.write_bytes(bytes(data))
    code, report = verify(tampered)
    assert code == 1 and report["c2pa"]["status"] == "invalid" and report["verdict"].startswith("tampered")
    assert report["c2pa"]["failures"]


def test_a_copy_without_credentials_is_absent_and_unverifiable_but_keeps_its_watermark(signed_run: dict) -> None:
    import imageio_ffmpeg

    copy = signed_run["tmp"] / "remuxed.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", str(signed_run["cut"]),
                    "-map", "0", "-c", "copy", str(copy)], check=True)
    assert read_credentials(copy)["status"] == "absent"
    code, report = verify(copy, "--workspace", str(signed_run["ws"]))
    assert code == 1 and report["c2pa"]["status"] == "absent" and report["verdict"].startswith("unverifiable")
    assert report["watermark"]["found"] and report["origin"][0]["watermark_match"]
    assert not report["origin"][0]["same_bytes"]


def test_the_watermark_survives_re_encoding_at_crf_28_half_size_and_a_crop(tmp_path: Path) -> None:
    """On a 640x360 picture with detail (ffmpeg's testsrc2), marked and delivered at CRF 20 as assembly does."""
    import av
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    src = tmp_path / "src.mp4"
    subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24:duration=1",
                    "-pix_fmt", "yuv420p", "-c:v", "libx264", "-crf", "8", str(src)], check=True)
    with av.open(str(src)) as c:
        frames = [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]
    key = wm.cut_key("a cut")
    delivered = tmp_path / "delivered.mp4"
    proc = subprocess.Popen([ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-video_size",
                             "640x360", "-framerate", "24", "-i", "pipe:0", "-c:v", "libx264", "-crf", "20", str(delivered)],
                            stdin=subprocess.PIPE)
    for frame in wm.embed(frames, key, 640, 360):
        proc.stdin.write(frame.tobytes())
    proc.stdin.close()
    assert proc.wait() == 0
    attacks = {"crf28": ["-c:v", "libx264", "-crf", "28"], "half": ["-vf", "scale=320:180", "-c:v", "libx264", "-crf", "23"],
               "crop": ["-vf", "crop=576:324:31:17", "-c:v", "libx264", "-crf", "23"]}
    for name, args in attacks.items():
        out = tmp_path / f"{name}.mp4"
        subprocess.run([ffmpeg, "-y", "-loglevel", "error", "-i", str(delivered), *args, str(out)], check=True)
        reading = wm.read_video(str(out))
        assert reading.payload == key and wm.bit_accuracy(reading, key) >= 0.9, (name, reading.peak_z)
    assert not wm.read_video(str(src), max_frames=6).found  # the unmarked source carries nothing


def test_bad_input_exits_2(tmp_path: Path) -> None:
    assert cli("verify", str(tmp_path / "missing.mp4")).exit_code == 2
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    result = cli("verify", str(text))
    assert result.exit_code == 2 and "not a video" in result.stderr
    assert cli("verify", str(text), "--workspace", str(tmp_path)).exit_code == 2


def test_reproduce_names_what_it_cannot_find(tmp_path: Path) -> None:
    result = cli("--workdir", str(tmp_path / "ws"), "reproduce", "no-such-run:a/v0:1:1:1")
    assert result.exit_code == 2 and "no cut 'no-such-run:a/v0:1:1:1'" in result.stderr


def test_a_half_pair_or_a_self_signed_certificate_is_refused_before_any_work(tmp_path: Path, signing_pair: dict) -> None:
    brief = str(ROOT / "briefs" / "bumper.yaml")
    half = cli("--workdir", str(tmp_path / "a"), "--sign-cert", str(signing_pair["chain"]), "run", brief)
    assert half.exit_code == 2 and "--sign-key" in half.stderr
    ca_only = cli("--workdir", str(tmp_path / "b"), "--sign-cert", str(signing_pair["ca"]), "--sign-key",
                  str(signing_pair["key"]), "run", brief)
    assert ca_only.exit_code == 2 and "signing" in ca_only.stderr
    assert not list(tmp_path.rglob("*.mp4"))


def test_reproduce_renders_the_cut_again_with_identical_frames(signed_run: dict) -> None:
    cut_id = json.loads(cli("--workdir", str(signed_run["ws"]), "runs", "show", signed_run["run_id"], "--json")
                        .stdout.strip().splitlines()[-1])["cuts"][0]["id"]
    into = signed_run["tmp"] / "again"
    result = cli("--workdir", str(signed_run["ws"]), "reproduce", cut_id, "--into", str(into), "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["frames"]["equal"] and report["frames"]["original"] > 0 and report["audio_equal"]
    assert report["bytes"]["original_signed"] and isinstance(report["bytes"]["identical"], bool)
    # the reproduction (unsigned) is verified by its own workspace's record of its bytes
    code, again = verify(Path(report["reproduced"]), "--workspace", str(into))
    assert code == 0 and again["c2pa"]["status"] == "absent" and again["verdict"].startswith("verified")
