"""The files a brief points at (a logo, a product image, a font, a folder of footage), checked when the
brief loads, before anything is written or rendered:

1. resolved relative to the brief, then followed through symlinks;
2. confined: the real path must lie inside the brief's folder or an allowed assets root
   (`--assets-root DIR`, `BRIEFCUT_ASSETS_ROOT`), so `../../etc/passwd` or a link out is refused;
3. verified as what the field says: an image PIL decodes (PNG, JPEG or WebP, within a pixel limit, so a
   decompression bomb or a renamed text file is refused), a font FreeType reads, a folder.

Which fields are paths, and of which kind, is `agent.brief.ASSET_PATHS`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent.brief_yaml import Places, at, nearest_place
from agent.errors import BriefError

IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
MAX_IMAGE_PIXELS = 50_000_000  # 50 megapixels (about 8660x5770): plenty for a logo or a product shot
MAX_IMAGE_BYTES = 64 * 2**20
MAX_FONT_BYTES = 128 * 2**20  # a full CJK collection is ~20-60 MB


class AssetProblem(Exception):
    """What is wrong with one asset file (the caller adds the brief's file, line and field)."""


def check_assets(brief: Any, path: Path, places: Places, roots: Sequence[Path] | None) -> None:
    """Resolve, confine (unless `roots` is None: a stored brief) and verify every asset path field of
    `brief` in place; the first problem is a BriefError naming the brief's file, the line and the field."""
    from agent.brief import ASSET_PATHS

    base = path.resolve().parent
    for loc, kind in ASSET_PATHS.items():
        owner = brief
        for part in loc[:-1]:
            owner = getattr(owner, part, None)
        value = getattr(owner, loc[-1], None) if owner is not None else None
        if value is None:
            continue
        try:
            setattr(owner, loc[-1], check_asset(Path(value), kind, base, roots))
        except AssetProblem as exc:
            raise BriefError(f"{at(path, nearest_place(places, loc))}: {'.'.join(loc)}: {exc}") from None


def check_asset(value: Path, kind: str, base: Path, roots: Sequence[Path] | None) -> Path:
    """The real path of one asset, confined to `base` or `roots` and verified as `kind`."""
    if kind not in VERIFY:
        raise ValueError(f"unknown asset kind '{kind}'; known: {', '.join(VERIFY)}")
    given = value.expanduser()
    candidate = given if given.is_absolute() else base / given
    try:
        real = candidate.resolve(strict=True)
    except FileNotFoundError:
        raise AssetProblem(f"{'folder' if kind == 'folder' else 'file'} not found: {candidate}") from None
    except (OSError, RuntimeError) as exc:  # a symlink loop, a permission problem
        raise AssetProblem(f"cannot be resolved: {candidate} ({exc})") from None
    if roots is not None:
        confine(real, value, base, roots)
    VERIFY[kind](real)
    return real


def confine(real: Path, given: Path, base: Path, roots: Sequence[Path]) -> None:
    """Refuse a real path outside the brief's folder and the allowed roots."""
    allowed = [base, *(Path(r).expanduser().resolve() for r in roots)]
    if any(real.is_relative_to(folder) for folder in allowed):
        return
    via = "" if real == (base / given).absolute() else f" (it resolves to {real})"
    raise AssetProblem(
        f"{given}{via} is outside the brief's folder {base}"
        + (f" and the allowed assets roots ({', '.join(str(r) for r in allowed[1:])})" if roots else "")
        + "; move it next to the brief, or allow its folder with --assets-root DIR (or BRIEFCUT_ASSETS_ROOT)"
    )


def verify_image(path: Path) -> None:
    """A real image PIL can decode whole: an allowed format, within the pixel and size limits."""
    from PIL import Image, UnidentifiedImageError

    _regular_file(path, MAX_IMAGE_BYTES)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.format not in IMAGE_FORMATS:
                    raise AssetProblem(f"{path} is a {image.format} image; use {', '.join(IMAGE_FORMATS)}")
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise AssetProblem(f"{path} is {width}x{height} pixels, over the limit of "
                                       f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels")  # fmt: skip
                image.load()  # decodes every pixel: a truncated or damaged file fails here
    except UnidentifiedImageError:
        raise AssetProblem(f"{path} is not an image ({', '.join(IMAGE_FORMATS)})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise AssetProblem(f"{path}: too many pixels ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise AssetProblem(f"{path} is a damaged image ({' '.join(str(exc).split())})") from None


def verify_font(path: Path) -> None:
    """A font file FreeType reads (TrueType, OpenType, a collection, WOFF) with a character map."""
    from fontTools.ttLib import TTFont, TTLibError

    _regular_file(path, MAX_FONT_BYTES)
    try:
        with TTFont(str(path), fontNumber=0, lazy=True) as font:
            if "cmap" not in font:
                raise AssetProblem(f"{path} is a font without a character map")
    except (TTLibError, OSError, ValueError, AssertionError, KeyError) as exc:
        raise AssetProblem(f"{path} is not a font file (TrueType or OpenType: {' '.join(str(exc).split())[:120]})") from None
    from PIL import ImageFont

    try:
        ImageFont.truetype(str(path), 24)
    except OSError as exc:
        if "pixel size" not in str(exc):  # bitmap-only faces (colour emoji) load at fixed sizes only
            raise AssetProblem(f"{path}: FreeType cannot read this font ({exc})") from None


def verify_folder(path: Path) -> None:
    """A folder (its files are confined and checked by whatever reads them: see `folder_files`)."""
    if not path.is_dir():
        raise AssetProblem(f"{path} is a file, not a folder")


def folder_files(folder: Path, roots: Sequence[Path] = ()) -> list[Path]:
    """The regular files under `folder` whose real paths stay inside it (or an allowed root): a link
    out of the folder is skipped, not followed."""
    real_folder = folder.resolve()
    allowed = [real_folder, *(Path(r).resolve() for r in roots)]
    found = []
    for item in sorted(real_folder.rglob("*")):
        real = item.resolve()
        if real.is_file() and any(real.is_relative_to(a) for a in allowed):
            found.append(real)
    return found


def _regular_file(path: Path, limit: int) -> None:
    if path.is_dir():
        raise AssetProblem(f"{path} is a folder, not a file")
    if not path.is_file():
        raise AssetProblem(f"{path} is not a regular file")
    size = path.stat().st_size
    if size > limit:
        raise AssetProblem(f"{path} is {size} bytes, over the limit of {limit}")


VERIFY: dict[str, Callable[[Path], None]] = {"image": verify_image, "font": verify_font, "folder": verify_folder}
