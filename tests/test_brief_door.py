"""Every bad brief is refused at the door: exit 2, one stderr line naming the file and the place
(line:col where there is one), and nothing written (no workspace is created, for a run or a batch)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.briefs import GOOD_BRIEF
from PIL import Image
from typer.testing import CliRunner

from agent.brief import load_brief
from agent.brief_yaml import MAX_BRIEF_BYTES, MAX_DEPTH
from agent.cli import app
from agent.errors import BriefError

GOOD = GOOD_BRIEF + "variants: 1\n"


def refused(tmp_path: Path, text: str | bytes, *args: str, name: str = "brief.yaml") -> str:
    """Run the CLI on a brief with this content; assert exit 2, one stderr line naming the file, and
    no workspace written; return the line."""
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    ws = tmp_path / "ws"
    result = CliRunner().invoke(app, ["--workdir", str(ws), "run", str(path), *args])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith(f"briefcut: error: {path}"), lines
    assert not ws.exists(), "a refused brief wrote a workspace"
    return lines[0]


def png(path: Path, size: tuple[int, int] = (16, 16), mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size).save(path, format="PNG")
    return path


def noise_png(path: Path) -> Path:
    import numpy as np

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    return path


# 1. the bytes ------------------------------------------------------------------------------------
def test_a_nul_byte_is_binary_data_at_its_line_and_column(tmp_path: Path) -> None:
    line = refused(tmp_path, GOOD.replace("It works.", "It\0works.").encode())
    assert "brief.yaml:6:12: binary data (a NUL byte)" in line


def test_a_binary_file_is_refused_not_parsed(tmp_path: Path) -> None:
    blob = bytes(range(256)) * 8  # a typical binary: control bytes, NULs and invalid UTF-8
    assert "binary data" in refused(tmp_path, blob)


def test_non_utf8_bytes_are_refused_with_the_byte_and_place(tmp_path: Path) -> None:
    latin1 = GOOD.replace("It works.", "Caf\u00e9 ouvert.").encode("latin-1")
    assert "brief.yaml:6:13: not UTF-8 text (byte 0xE9)" in refused(tmp_path, latin1)


def test_a_control_character_is_refused_at_its_place(tmp_path: Path) -> None:
    assert "brief.yaml:6:13: a control character (U+0007)" in refused(tmp_path, GOOD.replace("It works.", "It \x07works."))


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_brief(path).brand.name == "Acme"


def test_the_size_limit_is_checked_before_parsing(tmp_path: Path) -> None:
    # Broken YAML past the limit: the error is the size, so the parser never saw it.
    line = refused(tmp_path, GOOD + "x: [" * 10 + "#" * (MAX_BRIEF_BYTES + 10))
    assert f"over the limit of {MAX_BRIEF_BYTES}" in line


# 2. the YAML -------------------------------------------------------------------------------------
@pytest.mark.parametrize("nest", ["flow", "block"])
def test_deep_nesting_is_refused_without_a_recursion_error(tmp_path: Path, nest: str) -> None:
    depth = 5000 if nest == "flow" else 300  # far past the limit and Python's recursion limit either way
    deep = "[" * depth + "]" * depth if nest == "flow" else "\n" + "".join("  " * i + "- \n" for i in range(1, depth))
    line = refused(tmp_path, GOOD + f"extra: {deep}\n")
    where = "brief.yaml:14:" if nest == "flow" else f"brief.yaml:{14 + MAX_DEPTH}:"  # at the level past the limit
    assert f"nested more than {MAX_DEPTH} levels deep" in line and where in line


def test_aliases_nested_past_the_limit_are_refused(tmp_path: Path) -> None:
    chain = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, MAX_DEPTH + 5))
    assert "levels deep once aliases are expanded" in refused(tmp_path, GOOD + chain)


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    assert "a recursive alias" in refused(tmp_path, GOOD + "loop: &loop [*loop]\n")


def test_a_key_given_twice_is_refused_at_the_second(tmp_path: Path) -> None:
    line = refused(tmp_path, GOOD + "message: Another message.\n")
    assert "brief.yaml:14:1: 'message' is given twice in one mapping (first on line 6)" in line


def test_a_nested_key_given_twice_is_refused(tmp_path: Path) -> None:
    line = refused(tmp_path, GOOD.replace("  duration_s: 8", "  duration_s: 8\n  duration_s: 9"))
    assert "brief.yaml:13:3: 'duration_s' is given twice" in line


# 3. the values -----------------------------------------------------------------------------------
@pytest.mark.parametrize("field,value,where", [
    ("variants", "true", "brief.yaml:13:1: variants: Input should be a valid integer"),
    ("seed", "yes", "seed: Input should be a valid integer"),
    ("duration_s", "true", "formats.duration_s: Input should be a valid number"),
    ("variants", "2.5", "variants: Input should be a valid integer"),
])  # fmt: skip
def test_booleans_and_fractions_are_not_integers(tmp_path: Path, field: str, value: str, where: str) -> None:
    text = GOOD.replace("variants: 1", "variants: 1" if field != "variants" else f"variants: {value}")
    text = text.replace("duration_s: 8", f"duration_s: {value}") if field == "duration_s" else text
    text = text + f"seed: {value}\n" if field == "seed" else text
    assert where in refused(tmp_path, text)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_nan_and_infinity_are_refused_as_not_finite(tmp_path: Path, value: str) -> None:
    line = refused(tmp_path, GOOD.replace("duration_s: 8", f"duration_s: {value}"))
    assert "brief.yaml:12:3: formats.duration_s: Input should be a finite number" in line


def test_an_unknown_key_is_named_with_a_did_you_mean_not_as_missing_fields(tmp_path: Path) -> None:
    line = refused(tmp_path, GOOD.replace("brand:", "brnad:"))
    assert "brief.yaml:1:1: brnad: unknown field (did you mean 'brand'?); known: brand, product" in line
    assert "Field required" not in line


def test_a_nested_unknown_key_lists_its_sections_fields(tmp_path: Path) -> None:
    line = refused(tmp_path, GOOD.replace("  duration_s: 8", "  duration_s: 8\n  frame_rate: 30"))
    assert "brief.yaml:13:3: formats.frame_rate: unknown field; known: aspect_ratios, duration_s, fps" in line


@pytest.mark.parametrize("text,where", [
    (GOOD.replace("  - id: everyone", "  - id: everyone\n  - id: everyone"),
     "brief.yaml:10:5: segments[1].id: segment ids repeat: 'everyone' is also segment 0"),
    (GOOD + "shots: 30\n", "brief.yaml:14:1: shots: 30 shots cannot fit 8 s"),
    (GOOD.replace("duration_s: 8", "duration_s: 1.5"), "brief.yaml:12:3: formats.duration_s: duration 1.5 s is too short"),
])  # fmt: skip
def test_whole_brief_errors_point_at_their_field(tmp_path: Path, text: str, where: str) -> None:
    assert where in refused(tmp_path, text)


# 4. files where a file or folder is expected ------------------------------------------------------
def test_a_folder_given_as_the_brief(tmp_path: Path) -> None:
    (tmp_path / "briefs").mkdir()
    result = CliRunner().invoke(app, ["--workdir", str(tmp_path / "ws"), "run", str(tmp_path / "briefs")])
    assert result.exit_code == 2 and "is a folder, not a brief file" in result.stderr
    assert not (tmp_path / "ws").exists()


def test_a_folder_given_as_the_logo(tmp_path: Path) -> None:
    (tmp_path / "logo.png").mkdir()
    line = refused(tmp_path, GOOD.replace("  palette:", "  logo: logo.png\n  palette:"))
    assert "brief.yaml:3:3: brand.logo:" in line and "is a folder, not a file" in line


def test_a_text_file_as_the_font(tmp_path: Path) -> None:
    (tmp_path / "brand.ttf").write_text("not a font, just text\n" * 20)
    line = refused(tmp_path, GOOD.replace("  palette:", "  font: brand.ttf\n  palette:"))
    assert "brief.yaml:3:3: brand.font:" in line and "is not a font file" in line


def test_a_real_font_is_accepted(tmp_path: Path) -> None:
    from generators.fonts import default_face  # the font the renderer would use

    face = default_face(bold=False)
    if face is None:
        pytest.skip("no system font to copy (install fonts-dejavu or run `make sysdeps`)")
    (tmp_path / "brand.ttf").write_bytes(Path(face.path).read_bytes())
    path = tmp_path / "brief.yaml"
    path.write_text(GOOD.replace("  palette:", "  font: brand.ttf\n  palette:"))
    assert load_brief(path).brand.font == (tmp_path / "brand.ttf").resolve()


@pytest.mark.parametrize("make,problem", [
    (lambda p: p.write_text("<svg></svg>"), "is not an image (PNG, JPEG, WEBP)"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"fake" * 20), "is a damaged image"),
    (lambda p: p.write_bytes(noise_png(p.with_name("real.png")).read_bytes()[:2000]), "is a damaged image"),
    (lambda p: png(p, (8000, 8000), mode="1"), "over the limit of 50 megapixels"),
    (lambda p: png(p, (12000, 10000), mode="1"), "too many pixels"),
    (lambda p: Image.new("RGB", (8, 8)).save(p, format="GIF"), "is a GIF image; use PNG, JPEG, WEBP"),
])  # fmt: skip
def test_images_are_verified_when_the_brief_loads(tmp_path: Path, make, problem: str) -> None:
    make(tmp_path / "logo.png")
    line = refused(tmp_path, GOOD.replace("  palette:", "  logo: logo.png\n  palette:"))
    assert "brief.yaml:3:3: brand.logo:" in line and problem in line


# 5. confinement ----------------------------------------------------------------------------------
def test_a_dotdot_escape_is_refused_before_anything_runs(tmp_path: Path) -> None:
    escape = "../" * 12 + "etc/passwd"
    line = refused(tmp_path, GOOD.replace("  palette:", f"  logo: {escape}\n  palette:"))
    assert "brand.logo:" in line and "(it resolves to /etc/passwd) is outside the brief's folder" in line


def test_an_absolute_path_elsewhere_is_refused_and_allowed_by_an_assets_root(tmp_path: Path) -> None:
    shared = png(tmp_path / "shared" / "logo.png")
    brief_dir = tmp_path / "brief"
    brief_dir.mkdir()
    text = GOOD.replace("  palette:", f"  logo: {shared}\n  palette:")
    line = refused(brief_dir, text)
    assert "is outside the brief's folder" in line and "--assets-root" in line
    path = brief_dir / "brief.yaml"
    assert load_brief(path, [tmp_path / "shared"]).brand.logo == shared.resolve()
    from agent.settings import Settings

    roots = Settings.from_env({"BRIEFCUT_ASSETS_ROOT": f"/nowhere{os.pathsep}{tmp_path / 'shared'}"}).assets_roots
    assert load_brief(path, roots).brand.logo == shared.resolve()


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = png(tmp_path / "elsewhere" / "logo.png")
    brief_dir = tmp_path / "brief"
    brief_dir.mkdir()
    (brief_dir / "logo.png").symlink_to(outside)
    line = refused(brief_dir, GOOD.replace("  palette:", "  logo: logo.png\n  palette:"))
    assert f"(it resolves to {outside.resolve()}) is outside the brief's folder" in line


def test_a_symlink_inside_the_folder_is_fine(tmp_path: Path) -> None:
    png(tmp_path / "art" / "logo-v2.png")
    (tmp_path / "logo.png").symlink_to(tmp_path / "art" / "logo-v2.png")
    path = tmp_path / "brief.yaml"
    path.write_text(GOOD.replace("  palette:", "  logo: logo.png\n  palette:"))
    assert load_brief(path).brand.logo == (tmp_path / "art" / "logo-v2.png").resolve()


def test_the_cli_assets_root_option_allows_a_folder(tmp_path: Path) -> None:
    shared = png(tmp_path / "shared" / "logo.png")
    brief_dir = tmp_path / "brief"
    brief_dir.mkdir()
    path = brief_dir / "brief.yaml"
    path.write_text(GOOD.replace("  palette:", f"  logo: {shared}\n  palette:") + "shots: 30\n")
    result = CliRunner().invoke(app, ["--workdir", str(tmp_path / "ws"), "run", str(path),
                                      "--assets-root", str(tmp_path / "shared")])  # fmt: skip
    # the logo passes (with the root); the brief then fails on its next problem, at the door still
    assert result.exit_code == 2 and "shots: 30 shots cannot fit" in result.stderr


# 6. batches --------------------------------------------------------------------------------------
def test_a_batch_with_one_bad_brief_writes_nothing(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(GOOD.replace("variants: 1", "variants: true"))
    ws = tmp_path / "ws"
    result = CliRunner().invoke(app, ["--workdir", str(ws), "batch", str(good), str(bad)])
    assert result.exit_code == 2 and f"{bad}:13:1: variants:" in result.stderr
    assert not ws.exists(), "a refused batch wrote a workspace"


def test_a_stored_brief_from_an_older_run_still_validates(tmp_path: Path) -> None:
    from agent.brief import validate_brief

    path = tmp_path / "brief.yaml"
    path.write_text(GOOD.replace("  palette:", "  logo: logo.png\n  palette:"))
    png(tmp_path / "logo.png")
    stored = load_brief(path).model_dump(mode="json")  # what a run keeps: paths absolute, as text
    assert validate_brief(stored, path, confine=False).brand.logo == (tmp_path / "logo.png").resolve()


def test_the_real_cli_process_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "brief.yaml"
    path.write_bytes(GOOD.replace("message: It works.", "message: It works.\nmessage: Twice").encode())
    proc = subprocess.run([sys.executable, "-m", "agent.cli", "--workdir", str(tmp_path / "ws"), "run", str(path)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"{path}:7:1: 'message' is given twice" in proc.stderr and not (tmp_path / "ws").exists()


def test_a_bad_brief_raises_brief_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "brief.yaml"
    path.write_text(GOOD.replace("variants: 1", "variants: .nan"))
    with pytest.raises(BriefError, match=r"brief\.yaml:13:1: variants: Input should be a valid integer"):
        load_brief(path)
