"""The few words briefcut writes itself, in the segment's language, and a deterministic line shortener.

Copy the brief gives (message, call to action, on-screen lines) is always used as given; these are
only the words the template planner and the end card add: the end-card headline's call verb, the
AI disclosure, and the hook angles and call-to-action framings that make variants differ (each names
the segment's audience or frames the brief's own call to action; none adds a claim or an offer). A
language missing here falls back to English.
"""

from __future__ import annotations

import re

WORDS: dict[str, dict[str, str]] = {
    "en": {"discover": "Discover {product}", "ai_generated": "AI-generated",
           "hook_callout": "Made for {audience}.", "hook_question": "{audience}? This one's for you.",
           "hook_reveal": "Meet {product}, made for {audience}.",
           "cta_ready": "Ready? {cta}", "cta_named": "{product}: {cta}", "headline_for": "{product}, for {audience}"},
    "es": {"discover": "Descubre {product}", "ai_generated": "Generado con IA",
           "hook_callout": "Pensado para {audience}.", "hook_question": "¿{audience}? Esto es para ti.",
           "hook_reveal": "Conoce {product}, pensado para {audience}.",
           "cta_ready": "¿Listo? {cta}", "cta_named": "{product}: {cta}", "headline_for": "{product}, para {audience}"},
    "fr": {"discover": "Découvrez {product}", "ai_generated": "Généré par IA",
           "hook_callout": "Pensé pour {audience}.", "hook_question": "{audience} ? C'est pour vous.",
           "hook_reveal": "Voici {product}, pensé pour {audience}.",
           "cta_ready": "Prêt ? {cta}", "cta_named": "{product} : {cta}", "headline_for": "{product}, pour {audience}"},
    "de": {"discover": "Entdecke {product}", "ai_generated": "KI-generiert",
           "hook_callout": "Gemacht für {audience}.", "hook_question": "{audience}? Das ist für dich.",
           "hook_reveal": "Das ist {product}, gemacht für {audience}.",
           "cta_ready": "Bereit? {cta}", "cta_named": "{product}: {cta}", "headline_for": "{product}, für {audience}"},
    "it": {"discover": "Scopri {product}", "ai_generated": "Generato con IA",
           "hook_callout": "Pensato per {audience}.", "hook_question": "{audience}? Questo è per te.",
           "hook_reveal": "Ecco {product}, pensato per {audience}.",
           "cta_ready": "Pronto? {cta}", "cta_named": "{product}: {cta}", "headline_for": "{product}, per {audience}"},
    "pt": {"discover": "Descubra {product}", "ai_generated": "Gerado por IA",
           "hook_callout": "Pensado para {audience}.", "hook_question": "{audience}? Isto é para você.",
           "hook_reveal": "Conheça {product}, pensado para {audience}.",
           "cta_ready": "Pronto? {cta}", "cta_named": "{product}: {cta}", "headline_for": "{product}, para {audience}"},
    "ja": {"discover": "{product}をチェック", "ai_generated": "AI生成コンテンツ",
           "hook_callout": "{audience}のために。", "hook_question": "{audience}のあなたへ。",
           "hook_reveal": "{audience}のための{product}。",
           "cta_ready": "さあ、{cta}", "cta_named": "{product}：{cta}", "headline_for": "{audience}に、{product}"},
    "zh": {"discover": "探索{product}", "ai_generated": "AI生成内容",
           "hook_callout": "为{audience}而生。", "hook_question": "{audience}，这是为你准备的。",
           "hook_reveal": "{product}，专为{audience}打造。",
           "cta_ready": "准备好了吗？{cta}", "cta_named": "{product}：{cta}", "headline_for": "{product}，献给{audience}"},
    "ko": {"discover": "{product}를 만나보세요", "ai_generated": "AI 생성 콘텐츠",
           "hook_callout": "{audience}, 당신을 위해.", "hook_question": "{audience}? 바로 당신을 위한 것.",
           "hook_reveal": "{product}: {audience} 전용.",
           "cta_ready": "준비됐나요? {cta}", "cta_named": "{product}: {cta}", "headline_for": "{product}, {audience}에게"},
    "ar": {"discover": "اكتشف {product}", "ai_generated": "مُنشأ بالذكاء الاصطناعي",
           "hook_callout": "صُنع من أجل {audience}.", "hook_question": "{audience}؟ هذا لك.",
           "hook_reveal": "تعرّف على {product}، صُنع من أجل {audience}.",
           "cta_ready": "جاهز؟ {cta}", "cta_named": "{product}: {cta}", "headline_for": "{product} لأجل {audience}"},
    "he": {"discover": "גלו את {product}", "ai_generated": "נוצר בבינה מלאכותית",
           "hook_callout": "נוצר בשביל {audience}.", "hook_question": "{audience}? זה בשבילכם.",
           "hook_reveal": "הכירו את {product}, שנוצר בשביל {audience}.",
           "cta_ready": "מוכנים? {cta}", "cta_named": "{product}: {cta}", "headline_for": "{product}, בשביל {audience}"},
    "hi": {"discover": "{product} को जानें", "ai_generated": "AI द्वारा निर्मित",
           "hook_callout": "{audience} के लिए बना।", "hook_question": "{audience}? यह आपके लिए है।",
           "hook_reveal": "मिलिए {product} से, {audience} के लिए बना।",
           "cta_ready": "तैयार हैं? {cta}", "cta_named": "{product}: {cta}", "headline_for": "{audience} के लिए {product}"},
    "th": {"discover": "พบกับ {product}", "ai_generated": "สร้างโดย AI",
           "hook_callout": "สร้างมาเพื่อ{audience}", "hook_question": "{audience}? นี่สำหรับคุณ",
           "hook_reveal": "พบกับ {product} ที่สร้างมาเพื่อ{audience}",
           "cta_ready": "พร้อมไหม? {cta}", "cta_named": "{product}: {cta}", "headline_for": "{product} สำหรับ{audience}"},
}  # fmt: skip
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
