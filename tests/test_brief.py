"""The brief schema and loader: every example validates; malformed briefs fail with a location."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fixtures.briefs import GOOD_BRIEF
from typer.testing import CliRunner

from agent.brief import Brief, load_brief
from agent.cli import app
from agent.errors import BriefError

BRIEFS = Path(__file__).parents[1] / "briefs"
EXAMPLES = sorted(BRIEFS.glob("*.yaml"))

GOOD = GOOD_BRIEF


def test_examples_are_several_and_different() -> None:
    briefs = [load_brief(p) for p in EXAMPLES]
    assert len(briefs) >= 3
    shapes = {(b.formats.duration_s, tuple(b.formats.aspect_ratios), len(b.segments)) for b in briefs}
    assert len(shapes) == len(briefs)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_and_resolves_paths(path: Path) -> None:
    brief = load_brief(path)
    assert isinstance(brief, Brief)
    for p in (brief.brand.logo, brief.product.reference_image):
        assert p is None or (p.is_absolute() and p.is_file())


def write(tmp_path: Path, text: str, name: str = "brief.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# (description, brief text, expected substrings of the one error line)
MALFORMED = [
    ("syntax", GOOD.replace("product:\n", "product: [\n"), ["brief.yaml:", "YAML syntax"]),
    ("tab indent", GOOD.replace("  name: Widget", "\tname: Widget"), ["brief.yaml:5", "YAML syntax"]),
    ("wrong type", GOOD.replace("duration_s: 8", "duration_s: eight"), ["brief.yaml:12", "formats.duration_s"]),
    ("unknown key", GOOD + "colour_grade: teal\n", ["brief.yaml:13", "colour_grade: unknown field", "known: brand, product"]),
    ("nested unknown key", GOOD.replace("  name: Widget", "  name: Widget\n  price: 3"), ["product.price"]),
    ("bad hex", GOOD.replace("#112233", "#12345"), ["brief.yaml:3", "brand.palette[0]"]),
    ("negative duration", GOOD.replace("duration_s: 8", "duration_s: -5"), ["formats.duration_s", "greater than 0"]),
    ("too long", GOOD.replace("duration_s: 8", "duration_s: 9000"), ["formats.duration_s"]),
    ("shots do not fit", GOOD + "shots: 30\n", ["30 shots cannot fit 8 s"]),
    ("unknown ratio", GOOD.replace('["16:9"]', '["21:9"]'), ["formats.aspect_ratios[0]"]),
    ("missing field", GOOD.replace("message: It works.\n", ""), ["message", "Field required"]),
    ("missing logo", GOOD.replace("  palette:", "  logo: nowhere/logo.png\n  palette:"), ["brand.logo", "file not found"]),
    ("python tag", GOOD.replace("It works.", "!!python/object/apply:os.system ['true']"), ["tag not allowed"]),
    ("alias bomb", "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                   "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
     ["too many aliases"]),  # fmt: skip
    ("not a mapping", "- just\n- a list\n", ["a brief is a mapping"]),
    ("empty", "", ["the brief is empty"]),
    ("repeated segment", GOOD.replace("  - id: everyone", "  - id: everyone\n  - id: everyone"), ["segment ids repeat"]),
]


@pytest.mark.parametrize("name,text,expected", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_brief_exits_2_with_location(tmp_path: Path, name: str, text: str, expected: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(BriefError) as info:
        load_brief(path)
    message = str(info.value)
    assert "\n" not in message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    result = CliRunner().invoke(app, ["--workdir", str(tmp_path / "ws"), "run", str(path)])
    assert result.exit_code == 2
    assert "briefcut: error:" in result.output and str(path) in result.output


def test_missing_brief_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BriefError, match="no such brief file"):
        load_brief(tmp_path / "absent.yaml")


def test_paths_resolve_relative_to_the_brief(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "art").mkdir()
    Image.new("RGB", (8, 8), "red").save(tmp_path / "art" / "logo.png")
    path = write(tmp_path, GOOD.replace("  palette:", "  logo: art/logo.png\n  palette:"))
    assert load_brief(path).brand.logo == (tmp_path / "art" / "logo.png").resolve()


def test_cli_bad_brief_is_one_stderr_line_and_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("duration_s: 8", "duration_s: [8]"))
    proc = subprocess.run(
        [sys.executable, "-m", "agent.cli", "--workdir", str(tmp_path / "ws"), "run", str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "formats.duration_s" in lines[0] and f"{path}:12" in lines[0]


def test_schema_command_prints_json_schema() -> None:
    import json

    result = CliRunner().invoke(app, ["schema"])
    schema = json.loads(result.output)
    assert result.exit_code == 0 and "brand" in schema["properties"]


def test_help_does_not_import_torch() -> None:
    code = "import sys; from typer.testing import CliRunner; from agent.cli import app; " \
           "CliRunner().invoke(app, ['--help']); CliRunner().invoke(app, ['backends']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
