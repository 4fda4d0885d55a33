"""A typed take's pixel grid is kept by its first scoring pass and stands in for decoding it when new words
score it again: the score is the one decoding gives, to the bit, for every entrance style, with a plate, a
bar, a big figure and a right-to-left line; a damaged grid is removed and the take decoded; CLIP's frames are
whole, so with an embedder nothing is kept."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from agent.brief import load_brief
from agent.profiles import ClipChoice
from agent.scoring import SCORING_MAX_SIDE, Scorer
from agent.store import Store
from evaluators.take_grid import BLOCK, Grid, GridTap, grid_path
from generators.base import VIDEO, BackendPool, ShotRequest

BRIEF = Path(__file__).parents[1] / "briefs" / "bumper.yaml"
PALETTE = ["#0B1F3A", "#F2C14E", "#F7F4EA"]
CAPTIONS = [("Cold for 24 hours.", True, "gamers"), ("Still cold at noon, 30% lighter", True, "gamers"),
            ("Get yours today", False, "gamers")]  # fmt: skip


@pytest.fixture(scope="module")
def take(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A real motion take with a type layer (2.5 s, larger than the scoring size, so it is scaled)."""
    folder = tmp_path_factory.mktemp("take")
    request = ShotRequest(prompt="x", seconds=2.5, fps=12, width=360, height=640, seed=5, camera="push in",
                          caption="", palette=PALETTE, shot_index=1, role="benefit", shows_product=False,
                          product_name="Bottle", brand_name="Brand")  # fmt: skip
    made = VIDEO.create("motion").render(request, folder / "motion.mp4")
    assert made.metadata.get("type_layer"), "the motion backend records a type layer"
    return made.path, made.metadata


def scorer(folder: Path, clip: str = "none", warnings: list[str] | None = None) -> Scorer:
    folder.mkdir(parents=True, exist_ok=True)
    return Scorer("run-1", load_brief(BRIEF), ClipChoice(model=clip, dtype="fp32"), Store(folder / "s.db"), BackendPool(),
                  warn=None if warnings is None else warnings.append)  # fmt: skip


def copy_of(take: tuple[Path, dict], folder: Path) -> dict:
    """The take as a store row, its media copied into `folder` (so nothing kept beside another copy is read)."""
    path, metadata = take
    folder.mkdir(parents=True, exist_ok=True)
    media = folder / path.name
    media.write_bytes(path.read_bytes())
    return {"id": "take-1", "path": str(media), "metadata": metadata}


def layered(metadata: dict, **changes: object) -> dict:
    return {**metadata, "type_layer": {**metadata["type_layer"], **changes}}


def decoded_score(take: tuple[Path, dict], folder: Path, metadata: dict, caption: tuple[str, bool, str]):
    """The score scoring gives by decoding (a fresh copy: no grid, no kept score)."""
    s = scorer(folder)
    row = copy_of(take, folder) | {"metadata": metadata}
    s.store.write("takes", row)
    score = s.take_score(row, "x", False, caption)
    assert s.stats["takes_from_grid"] == 0
    return score


@pytest.mark.parametrize("variant", ["rise", "wipe", "pop", "plate", "figure", "rtl"])
def test_a_grid_scores_new_words_as_decoding_does(take: tuple[Path, dict], tmp_path: Path, variant: str) -> None:
    _, metadata = take
    layer = metadata["type_layer"]
    changes: dict = {"style": variant} if variant in ("rise", "wipe", "pop") else {}
    if variant == "plate":
        changes = {"plate": [20, 30, 60], "style": "pop"}
    if variant == "figure":
        changes = {"figure": layer.get("figure") or {"box": [0.1, 0.2, 0.9, 0.5], "text_box": [0.1, 0.6, 0.9, 0.9],
                                                     "colour": [240, 200, 80], "camera": "push in", "seed": 3}}
    meta = layered(metadata, **changes)
    words = [("عرض خاص اليوم", True, "gamers")] if variant == "rtl" else CAPTIONS
    s = scorer(tmp_path / "grid")
    row = copy_of(take, tmp_path / "grid") | {"metadata": meta}
    s.store.write("takes", row)
    first = s.take_score(dict(row), "x", False, ("First words", True, "gamers"))
    kept = grid_path(Path(row["path"]), SCORING_MAX_SIDE)
    assert kept.is_file() and s.stats["takes_from_grid"] == 0
    for k, caption in enumerate(words):
        again = s.take_score(dict(row), "x", False, caption)
        assert again != first
        want = decoded_score(take, tmp_path / f"decoded-{k}", meta, caption)
        assert again.model_dump() == want.model_dump(), caption
    assert s.stats["takes_from_grid"] == len(words)


def test_the_grid_reads_back_a_block_at_a_time(take: tuple[Path, dict], tmp_path: Path) -> None:
    """The grid holds blocks of BLOCK frames and the frame size; its carriers have the grid it kept."""
    from evaluators.scorecard import thumbnail
    from generators.media import iter_frames

    path = Path(copy_of(take, tmp_path)["path"])
    frames = list(iter_frames(path, max_side=SCORING_MAX_SIDE))
    target = tmp_path / "g.npz"
    with GridTap(target) as tap:
        assert sum(1 for _ in tap.frames(iter(frames))) == len(frames)
    with zipfile.ZipFile(target) as zf:
        sizes = [int(np.lib.format.read_array(zf.open(n)).shape[0]) for n in sorted(zf.namelist()) if n != "frame.npy"]
    assert len(frames) > BLOCK and sizes == [BLOCK] * (len(frames) // BLOCK) + [len(frames) % BLOCK]
    grid = Grid(target)
    assert (grid.height, grid.width, grid.count) == (*frames[0].shape[:2], len(frames))
    carriers = list(grid.carriers())
    assert all(c.shape == f.shape and np.array_equal(thumbnail(c), thumbnail(f)) for c, f in zip(carriers, frames, strict=True))
    assert not list(tmp_path.glob(".*.part*"))  # written through a temporary name, renamed whole


def test_a_pass_that_fails_keeps_no_grid(take: tuple[Path, dict], tmp_path: Path) -> None:
    from generators.media import iter_frames

    path = Path(copy_of(take, tmp_path)["path"])
    target = tmp_path / "g.npz"
    with pytest.raises(RuntimeError), GridTap(target) as tap:
        for n, _ in enumerate(tap.frames(iter_frames(path, max_side=SCORING_MAX_SIDE))):
            if n == 5:
                raise RuntimeError("the scoring pass stops")
    assert not target.exists() and not list(tmp_path.glob(".*.part*"))


@pytest.mark.parametrize("damage", ["truncated", "block gone"])
def test_a_damaged_grid_is_removed_and_the_take_decoded(take: tuple[Path, dict], tmp_path: Path, damage: str) -> None:
    warnings: list[str] = []
    s = scorer(tmp_path / "grid", warnings=warnings)
    row = copy_of(take, tmp_path / "grid")
    s.store.write("takes", row)
    s.take_score(dict(row), "x", False, CAPTIONS[0])
    kept = grid_path(Path(row["path"]), SCORING_MAX_SIDE)
    if damage == "truncated":
        kept.write_bytes(kept.read_bytes()[: kept.stat().st_size // 2])
    else:
        with zipfile.ZipFile(kept) as zf:
            members = {n: zf.read(n) for n in zf.namelist() if n != "b00001.npy"}
        with zipfile.ZipFile(kept, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
    again = s.take_score(dict(row), "x", False, CAPTIONS[1])
    assert again.model_dump() == decoded_score(take, tmp_path / "decoded", row["metadata"], CAPTIONS[1]).model_dump()
    assert s.stats["takes_from_grid"] == 0 and any("unreadable pixel grid" in w for w in warnings), warnings
    assert Grid(kept).count > 0  # made again by the decode


def test_a_grid_that_cannot_be_written_costs_only_a_warning(take: tuple[Path, dict], tmp_path: Path, monkeypatch) -> None:
    warnings: list[str] = []
    s = scorer(tmp_path / "grid", warnings=warnings)
    row = copy_of(take, tmp_path / "grid")
    s.store.write("takes", row)

    def full(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(GridTap, "_write", full)
    score = s.take_score(dict(row), "x", False, CAPTIONS[0])
    assert score.model_dump() == decoded_score(take, tmp_path / "decoded", row["metadata"], CAPTIONS[0]).model_dump()
    assert not grid_path(Path(row["path"]), SCORING_MAX_SIDE).exists()
    assert not list((tmp_path / "grid").glob(".*.part*")) and any("not kept" in w for w in warnings), warnings


def test_with_clip_the_take_is_decoded_and_no_grid_kept(take: tuple[Path, dict], tmp_path: Path, tiny_clip: Path) -> None:
    s = scorer(tmp_path, clip=str(tiny_clip))
    row = copy_of(take, tmp_path)
    s.store.write("takes", row)
    s.take_score(dict(row), "x", False, CAPTIONS[0])
    s.take_score(dict(row), "x", False, CAPTIONS[1])
    assert not grid_path(Path(row["path"]), SCORING_MAX_SIDE).exists() and s.stats["takes_from_grid"] == 0
