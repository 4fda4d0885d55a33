"""Colours in words: the nearest name from a curated table, by CIELAB distance.

Video and image models read "deep navy" and "saffron"; they read "#0B1F3A" as noise (or as text to
paint). Prompts therefore name a brand's colours in words. The table holds names a person would say
and a model has seen in captions, each with a representative sRGB value; the nearest entry by
Euclidean distance in CIELAB (CIE76 ΔE) names the colour.
"""

from __future__ import annotations

import functools

import numpy as np

from evaluators.metrics import hex_to_rgb, srgb_to_lab

COLOUR_NAMES: dict[str, str] = {
    # neutrals
    "jet black": "#0A0A0A", "charcoal": "#36454F", "graphite": "#474A51", "slate grey": "#708090",
    "warm grey": "#9A948A", "cool grey": "#8C92AC", "mid grey": "#808080", "silver": "#C0C0C0", "light grey": "#D6D6D6",
    "off-white": "#F6F3EA", "white": "#FFFFFF", "ivory": "#FFFFF0", "cream": "#FFF6D5", "eggshell": "#EFE6D0",
    "linen": "#F4EBDD", "bone": "#E3DAC9", "beige": "#E6D8B8", "sand": "#C9B48A", "taupe": "#8B7F75",
    # browns
    "espresso": "#3A2216", "dark chocolate": "#2E1A12", "chocolate brown": "#5C3317", "coffee brown": "#6F4E37",
    "walnut": "#5D432C", "mocha": "#8A6A53", "tan": "#D2B48C", "caramel": "#C48A4B", "camel": "#C19A6B",
    "cognac": "#9A463D", "rust": "#B7410E", "terracotta": "#E2725B", "copper": "#B87333", "bronze": "#A97142",
    "khaki": "#C3B091",
    # reds
    "bright red": "#E3242B", "crimson": "#DC143C", "scarlet": "#FF2400", "cherry red": "#C2062D",
    "burgundy": "#800020", "maroon": "#6E0B14", "wine red": "#722F37", "brick red": "#B5473A",
    "tomato red": "#F0533A", "coral": "#FF7F50", "salmon": "#FA8072",
    # pinks
    "hot pink": "#FF3E8A", "raspberry": "#D3135A", "magenta": "#E020C8", "fuchsia": "#C01C8C",
    "rose pink": "#F06A9B", "blush pink": "#F2C6C2", "dusty rose": "#C48C8F", "pastel pink": "#FFD1DC",
    "watermelon pink": "#FC6C85", "bubblegum pink": "#FFA6C9",
    # oranges
    "orange": "#FF8C1A", "tangerine": "#F28500", "burnt orange": "#CC5500", "apricot": "#FBC59A",
    "peach": "#FFDAB0", "amber": "#FFB300", "pumpkin": "#F07318",
    # yellows
    "lemon yellow": "#FFF44F", "canary yellow": "#FFEF3A", "sunflower yellow": "#FFC512", "saffron": "#F4C430",
    "mustard": "#D9A806", "golden yellow": "#FFD92E", "gold": "#D4AF37", "honey": "#E8A93A",
    "butter yellow": "#FFF1A1", "ochre": "#C8781E", "marigold": "#EAA221",
    # greens
    "bright green": "#12C23A", "lime green": "#32CD32", "chartreuse": "#A6E22E", "mint green": "#A8EFB8", "sage green": "#9CAF88",
    "olive green": "#6B7A2A", "moss green": "#8A9A5B", "forest green": "#1E5A2A", "dark green": "#0F3B22",
    "emerald green": "#26A65B", "jade": "#00A86B", "bottle green": "#006A4E", "hunter green": "#355E3B",
    "kelly green": "#4CBB17", "seafoam green": "#93E9BE", "pistachio": "#A8CF8E", "pale green": "#C8E6C0",
    # teals and cyans
    "teal": "#008080", "deep teal": "#0E4D5C", "petrol blue": "#1F4E5F", "turquoise": "#40E0D0",
    "aqua": "#2BD9E6", "cyan": "#00B7EB", "aquamarine": "#7FFFD4", "duck egg blue": "#C8E8E3",
    # blues
    "deep navy": "#0A1A33", "navy blue": "#14245E", "midnight blue": "#191970", "ink blue": "#1E2A4A",
    "bright blue": "#1A3CF0", "royal blue": "#4169E1", "cobalt blue": "#0047AB", "sapphire blue": "#0F52BA", "cornflower blue": "#6495ED",
    "sky blue": "#87CEEB", "baby blue": "#A7D3F0", "powder blue": "#C4DDEA", "steel blue": "#4682B4",
    "denim blue": "#3B5E8C", "electric blue": "#2F7BFF", "azure": "#007FFF", "ice blue": "#DCEEF3",
    "slate blue": "#5B6C9A", "periwinkle": "#B4B8F2",
    # purples
    "purple": "#7A1F86", "violet": "#8F3FD9", "lavender": "#B7A2DC", "lilac": "#C8A2C8", "plum": "#8E4585",
    "aubergine": "#3D1A33", "mauve": "#B784A7", "orchid": "#DA70D6", "amethyst": "#9966CC", "indigo": "#3F1F7A",
    "deep purple": "#3A0F4F",
}  # fmt: skip


@functools.lru_cache(maxsize=1)
def _table() -> tuple[list[str], np.ndarray]:
    names = list(COLOUR_NAMES)
    lab = srgb_to_lab(np.array([hex_to_rgb(COLOUR_NAMES[n]) for n in names], dtype=np.float64))
    return names, lab


@functools.lru_cache(maxsize=512)
def colour_name(colour: str) -> str:
    """The table's nearest name for a '#RRGGBB' colour (CIE76 ΔE in CIELAB)."""
    names, lab = _table()
    target = srgb_to_lab(np.array([hex_to_rgb(colour)], dtype=np.float64))[0]
    return names[int(np.argmin(((lab - target) ** 2).sum(axis=1)))]


def colour_words(palette: list[str]) -> str:
    """A palette in words, each name once: ['#0B1F3A', '#F2C14E'] -> 'deep navy and saffron'."""
    names = list(dict.fromkeys(colour_name(c) for c in palette))
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"
