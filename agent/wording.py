"""The few words briefcut writes itself, in the segment's language, and a deterministic line shortener.

Copy the brief gives (message, call to action, on-screen lines) is always used as given; these are
only the words the template planner and the end card add: the end-card headline's call verb and
the AI disclosure. A language missing here falls back to English.
"""

from __future__ import annotations

import re

WORDS: dict[str, dict[str, str]] = {
    "en": {"discover": "Discover {product}", "ai_generated": "AI-generated"},
    "es": {"discover": "Descubre {product}", "ai_generated": "Generado con IA"},
    "fr": {"discover": "Découvrez {product}", "ai_generated": "Généré par IA"},
    "de": {"discover": "Entdecke {product}", "ai_generated": "KI-generiert"},
    "it": {"discover": "Scopri {product}", "ai_generated": "Generato con IA"},
    "pt": {"discover": "Descubra {product}", "ai_generated": "Gerado por IA"},
    "ja": {"discover": "{product}をチェック", "ai_generated": "AI生成コンテンツ"},
    "zh": {"discover": "探索{product}", "ai_generated": "AI生成内容"},
    "ko": {"discover": "{product}를 만나보세요", "ai_generated": "AI 생성 콘텐츠"},
    "ar": {"discover": "اكتشف {product}", "ai_generated": "مُنشأ بالذكاء الاصطناعي"},
    "he": {"discover": "גלו את {product}", "ai_generated": "נוצר בבינה מלאכותית"},
    "hi": {"discover": "{product} को जानें", "ai_generated": "AI द्वारा निर्मित"},
    "th": {"discover": "พบกับ {product}", "ai_generated": "สร้างโดย AI"},
}
CLAUSE_END = re.compile(r"[,;:、，；：。！？!?.…।]\s*$")


def word(key: str, lang: str | None, **values: str) -> str:
    """A built-in phrase in `lang` (its primary subtag: 'pt-BR' -> 'pt'), English where it has none."""
    primary = (lang or "en").replace("_", "-").split("-")[0].lower()
    return WORDS.get(primary, WORDS["en"]).get(key, WORDS["en"][key]).format(**values)


def shorten_text(text: str, ratio: float) -> str:
    """About `ratio` of `text`, cut where a line may break (UAX #14), preferring a clause's end.

    Deterministic: the same line and ratio always give the same words. Never empty.
    """
    from generators.text import break_units, clusters

    units = break_units(text.strip())
    total = len(clusters(text.strip()))
    budget = max(1, int(total * max(0.0, min(ratio, 1.0))))
    kept, size, clause_end = [], 0, 0
    for unit in units:
        n = len(clusters(unit.rstrip()))
        if kept and size + n > budget:
            break
        kept.append(unit)
        size += len(clusters(unit))
        if CLAUSE_END.search(unit):
            clause_end = len(kept)
    if clause_end and len("".join(kept[:clause_end])) >= 0.5 * len("".join(kept)):
        kept = kept[:clause_end]  # end on a whole clause when that keeps at least half
    out = "".join(kept).strip()
    return re.sub(r"[,;:、，；：\s]+$", "", out) or text.strip()[:1]
