"""Ad-effectiveness checks on every delivered cut: deterministic, each with its threshold and source.

The checks follow public creative guidance for short video ads, chiefly Google's ABCDs (Attention,
Branding, Connection, Direction); each is measured on the delivered MP4 against the plan (the logo
found in frames, the drawn captions and end card found at their places, picture changes at the
planned cuts, the voice-over measured in its takes). The thresholds are the guidance's own numbers
where it gives one and stated starting points where it does not; none is calibrated on results.

A check that cannot be made (no logo in the brief, no voice-over) is `pass: null` with the reason.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from pathlib import Path

import numpy as np

from agent.ad_evidence import END_CARD_MATCH, CutEvidence, end_card_box, end_card_shown, logo_first_seen
from agent.assembly.cut import CutResult, CutSpec
from agent.assembly.formats import TEXT_ZONES
from evaluators.detect import picture_changes
from evaluators.scorecard import CutCheck

ABCD = "Google Ads Help, About the ABCDs of effective video ads (support.google.com/google-ads/answer/14783551)"
ABCD_GUIDE = "Google/YouTube ABCD reference guide"
BRAND_WINDOW_S = 5.0  # ABCD: "introduce your product or brand in the first five seconds"
MIN_EARLY_SHOTS = 3  # ABCD reference guide: "more than two frames in the first five seconds"
MIN_PRODUCT_SHARE = 1 / 3  # ABCD: "show up early and throughout" (a starting point, not Google's number)
MIN_CAPTION_SHARE = 0.5  # of the body's time with a caption on screen (sound-off viewing)
MAX_WORDS_PER_S = 3.0  # a voice-over faster than ~180 words a minute reads as rushed
READ_WORDS_PER_S = 3.0  # time to read the end card's headline and CTA, at least MIN_END_CARD_S
MIN_END_CARD_S, MAX_END_CARD_SHARE = 1.0, 0.25
CTA_WORD_SHARE = 0.6  # the CTA counts as said or shown when this share of its words is there
PICTURE_CHANGE = 6.0  # grey levels: a planned cut must change the picture at least this much
SAFE_ZONES = TEXT_ZONES  # where text may sit per format, and the rule (agent.assembly.formats)
Check = Callable[[CutEvidence], CutCheck]


def _check(name: str, passed: bool | None, value: float | None, threshold: float | None, op: str, unit: str,
           source: str, detail: str) -> CutCheck:  # fmt: skip
    return CutCheck(name=name, passed=passed, value=None if value is None else round(float(value), 4),
                    threshold=threshold, op=op, unit=unit, source=source, detail=detail, kind="ad")  # fmt: skip


def words(text: str) -> list[str]:
    """The words of `text`, case-folded (Unicode word boundaries; punctuation and spaces dropped)."""
    return list(_words(text))


@functools.lru_cache(maxsize=1024)
def _words(text: str) -> tuple[str, ...]:
    # uniseg's breaker is pure Python, and each cut's checks split the same plan texts again
    from uniseg.wordbreak import words as split

    return tuple(w.casefold() for w in split(unicodedata.normalize("NFKC", text)) if any(c.isalnum() for c in w))


def unspaced(text: str) -> bool:
    """Whether most letters are in scripts written without spaces (a word count means little there)."""
    letters = [c for c in text if c.isalpha()]
    wide = [c for c in letters if unicodedata.east_asian_width(c) in "WF" or "\u0e00" <= c <= "\u0eff"]
    return bool(letters) and len(wide) > len(letters) / 2


def contains_words(text: str, phrase: str) -> float:
    """The share of the phrase's words found in the text (1.0: all of them)."""
    want = words(phrase)
    if not want:
        return 0.0
    have = set(words(text))
    return sum(w in have for w in want) / len(want)


# 1. Branding: the brand on screen within the first 5 s --------------------------------------------
def brand_early(ev: CutEvidence) -> CutCheck:
    """The first second the logo is found in the frames, a caption with the brand name is seen, or the
    end card (which draws the brand's name) is on screen."""
    spec = ev.spec
    name_at = next((ev.seconds(c.cue.start) for c in ev.cues
                    if c.seen and contains_words(c.cue.text, spec.brand_name) >= 1.0), None)  # fmt: skip
    card_start = ev.seconds(ev.segments[-1].start)
    card_at = card_start if card_start <= BRAND_WINDOW_S and end_card_shown(ev) >= END_CARD_MATCH else None
    # The logo search (the costly part) only looks before the brand is on screen by other means.
    logo_at, best = logo_first_seen(ev, spec.logo, min((t for t in (name_at, card_at) if t is not None), default=None))
    seen = [t for t in (logo_at, name_at, card_at) if t is not None]
    first = min(seen) if seen else None
    how = [f"logo found at {logo_at:.1f} s" if logo_at is not None else
           ("no logo in the brief" if spec.logo is None else f"logo not found in the first {BRAND_WINDOW_S:g} s "
            f"(best match {best:.2f})"),
           f"brand name in a caption at {name_at:.1f} s" if name_at is not None else "brand name in no caption",
           f"end card (brand name) from {card_start:.1f} s"]  # fmt: skip
    return _check("brand_in_first_5s", first is not None and first <= BRAND_WINDOW_S, first, BRAND_WINDOW_S, "<=", "s",
                  f"{ABCD}: Branding, show up early; {ABCD_GUIDE}: brand in the first five seconds", "; ".join(how))


# 2. Branding: the product on screen ---------------------------------------------------------------
def product_share(ev: CutEvidence, confirmed: list[bool | None] | None = None) -> CutCheck:
    """Share of the body's time in shots that show the product: the plan says so, and the frames agree
    where they can be checked (`confirmed[i]`: CLIP's product consistency over its threshold, or None)."""
    shots = ev.spec.plan.shots
    confirmed = confirmed or [None] * len(shots)
    frames = [seg.frames for seg in ev.segments[:-1]]
    showing = [s.shows_product and confirmed[i] is not False for i, s in enumerate(shots)]
    share = sum(f for f, on in zip(frames, showing, strict=True) if on) / max(1, sum(frames))
    unconfirmed = [i + 1 for i, s in enumerate(shots) if s.shows_product and confirmed[i] is None]
    refuted = [i + 1 for i, s in enumerate(shots) if s.shows_product and confirmed[i] is False]
    detail = f"{sum(showing)} of {len(shots)} shots show the product"
    if refuted:
        detail += f"; planned but not found in the frames: shots {refuted}"
    if unconfirmed:
        detail += f"; taken from the plan (no product reference or CLIP to confirm): shots {unconfirmed}"
    return _check("product_on_screen", share >= MIN_PRODUCT_SHARE, share, round(MIN_PRODUCT_SHARE, 4), ">=", "",
                  f"{ABCD}: Branding, show up early and throughout (threshold: a starting point)", detail)


# 3. Direction: the call to action, shown and said ----------------------------------------------------
def cta_on_screen(ev: CutEvidence) -> CutCheck:
    """The CTA is on the delivered end card (the drawn card found in the last frame) or in a seen caption."""
    cta = ev.spec.plan.end_card.call_to_action.strip()
    card = end_card_shown(ev) if cta else 0.0
    in_caption = next((c for c in ev.cues if c.seen and cta and contains_words(c.cue.text, cta) >= CTA_WORD_SHARE), None)
    on_card = bool(cta) and card >= END_CARD_MATCH
    if not cta:
        detail = "the plan's end card has no call to action"
    else:
        detail = f"end card with {cta!r} {'found' if on_card else 'not found'} in the last frame (match {card:.2f})"
    if in_caption is not None:
        detail += f"; in the caption at {ev.seconds(in_caption.cue.start):.1f} s"
    shown = on_card or in_caption is not None
    return _check("cta_on_screen", shown, float(shown), 1.0, ">=", "", f"{ABCD}: Direction, include a call to action",
                  detail)


def cta_in_voice(ev: CutEvidence) -> CutCheck:
    """The CTA's words are in a voice line that was spoken (has a voice take in the cut)."""
    cta = ev.spec.plan.end_card.call_to_action.strip()
    spoken = [s.voice_line for s, v in zip(ev.spec.plan.shots, ev.voice, strict=True) if v is not None and s.voice_line]
    if not spoken:
        return _check("cta_in_voice_over", None, None, CTA_WORD_SHARE, ">=", "", f"{ABCD}: Branding/Direction, "
                      "reinforce with audio", "the cut has no voice-over")
    share = max(contains_words(line, cta) for line in spoken) if cta else 0.0
    detail = f"best voice line holds {share:.0%} of the words of {cta!r}" if cta else "no call to action to say"
    return _check("cta_in_voice_over", share >= CTA_WORD_SHARE, share, CTA_WORD_SHARE, ">=", "",
                  f"{ABCD}: Direction, say and show the call to action", detail)


# 4. Attention: captions for sound-off viewing, and pacing ---------------------------------------------
def captions_present(ev: CutEvidence) -> CutCheck:
    """Share of the body's frames under a caption that the delivered frames show."""
    body = ev.body_frames
    covered = sum(min(c.cue.end, body) - c.cue.start for c in ev.cues if c.seen and c.cue.start < body)
    share = covered / max(1, body)
    missing = [f"{ev.seconds(c.cue.start):.1f} s" for c in ev.cues if not c.seen]
    detail = f"{len([c for c in ev.cues if c.seen])} caption page(s) seen on screen"
    detail += f"; planned but not seen at {', '.join(missing)}" if missing else ""
    return _check("captions_on_screen", share >= MIN_CAPTION_SHARE, share, MIN_CAPTION_SHARE, ">=", "",
                  f"{ABCD}: Attention, support the story with audio and supers; design for sound off", detail)


def early_pacing(ev: CutEvidence) -> CutCheck:
    """Shots seen in the first 5 s: planned cuts there at which the delivered picture really changes."""
    window = min(round(BRAND_WINDOW_S * ev.fps), ev.body_frames)
    starts = [seg for seg in ev.segments[1:-1] if seg.start < window]
    changes = picture_changes(ev.head[: window + 1])
    typical = float(np.median(changes)) if len(changes) else 0.0
    seen = [seg for seg in starts if _changes_at(ev.head, seg.start, max(1, seg.fade_in)) > max(PICTURE_CHANGE, 3 * typical)]
    count = 1 + len(seen)
    lengths = ", ".join(f"{seg.frames / ev.fps:.1f}" for seg in ev.segments[:-1] if seg.start < window)
    detail = f"{count} shot(s) in the first {window / ev.fps:.1f} s (shot lengths {lengths} s)"
    if len(seen) < len(starts):
        detail += f"; {len(starts) - len(seen)} planned cut(s) there change the picture too little to count"
    return _check("shots_in_first_5s", count >= MIN_EARLY_SHOTS, count, MIN_EARLY_SHOTS, ">=", "",
                  f"{ABCD}: Attention, jump in with engaging pacing; {ABCD_GUIDE}: more than two frames in the "
                  "first five seconds", detail)


def _changes_at(thumbs: np.ndarray, frame: int, half: int) -> float:
    """Mean grey difference between the frames `half` before and after a boundary."""
    a, b = max(0, frame - half - 1), min(len(thumbs) - 1, frame + half)
    return float(np.abs(thumbs[b] - thumbs[a]).mean()) if b > a else 0.0


# 5. Text inside the platform's safe area -----------------------------------------------------------
def text_safe_area(ev: CutEvidence) -> CutCheck:
    """Share of the text boxes on screen (seen captions, the end card's drawing) inside the format's zone."""
    spec = ev.spec
    (left, top, right, bottom), source = SAFE_ZONES.get(spec.aspect_ratio, SAFE_ZONES["16:9"])
    zone = (spec.width * left, spec.height * top, spec.width * (1 - right), spec.height * (1 - bottom))
    boxes = [(f"caption at {ev.seconds(c.cue.start):.1f} s", c.box) for c in ev.cues if c.seen]
    if (card := end_card_box(ev)) is not None:
        boxes.append(("end card", card))
    if not boxes:
        return _check("text_in_safe_area", None, None, 1.0, ">=", "", source, "no text found on screen")
    outside = [name for name, box in boxes if not _inside(box, zone)]
    share = 1 - len(outside) / len(boxes)
    detail = (f"outside the zone: {', '.join(outside)}" if outside else f"all {len(boxes)} text box(es) inside")
    return _check("text_in_safe_area", not outside, share, 1.0, ">=", "", source, detail)


def _inside(box: tuple[int, int, int, int], zone: tuple[float, float, float, float], slack: float = 1.0) -> bool:
    x, y, w, h = box
    return x >= zone[0] - slack and y >= zone[1] - slack and x + w <= zone[2] + slack and y + h <= zone[3] + slack


# 6. Voice-over pace and end card length --------------------------------------------------------------
def voice_pace(ev: CutEvidence) -> CutCheck:
    """Words spoken per second of speech, the speech measured in the voice takes (and any speed-up)."""
    lines = [(i, s.voice_line, v) for i, (s, v) in enumerate(zip(ev.spec.plan.shots, ev.voice, strict=True))
             if v is not None and s.voice_line.strip()]  # fmt: skip
    source = "voice-over pace: about 150-180 words a minute reads clearly (a broadcast rule of thumb)"
    if not lines:
        return _check("voice_words_per_second", None, None, MAX_WORDS_PER_S, "<=", "words/s", source,
                      "the cut has no voice-over")
    speedup = {w.get("shot"): float(w.get("factor") or 1.0) for w in ev.warnings if w.get("kind", "").startswith("voice_")}
    seconds = sum(speech_seconds(Path(v)) / max(1.0, speedup.get(i, 1.0)) for i, _, v in lines)
    text = " ".join(line for _, line, _ in lines)
    if unspaced(text):
        chars = sum(c.isalnum() for c in text)
        return _check("voice_words_per_second", None, None, MAX_WORDS_PER_S, "<=", "words/s", source,
                      f"not checked: the voice-over is in a script written without spaces ({chars / max(seconds, 1e-6):.1f} characters/s)")
    rate = len(words(text)) / max(seconds, 1e-6)
    return _check("voice_words_per_second", rate <= MAX_WORDS_PER_S, rate, MAX_WORDS_PER_S, "<=", "words/s", source,
                  f"{len(words(text))} words in {seconds:.1f} s of speech")


def speech_seconds(path: Path, floor_db: float = -35.0, window_s: float = 0.02) -> float:
    """Seconds of a voice take louder than `floor_db` under its loudest 20 ms window (pauses left out)."""
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    n = max(1, round(window_s * rate))
    frames = data[: len(data) // n * n, 0].reshape(-1, n)
    if not len(frames):
        return 0.0
    rms = np.sqrt((frames**2).mean(axis=1))
    return float((rms > rms.max() * 10 ** (floor_db / 20)).sum() * n / rate) if rms.max() > 0 else 0.0


def end_card_length(ev: CutEvidence) -> CutCheck:
    """The end card's time on screen, measured as the still frames that close the delivered cut."""
    seconds = ev.static_tail / ev.fps
    card = ev.spec.plan.end_card
    needed = max(MIN_END_CARD_S, len(words(f"{card.headline} {card.call_to_action}")) / READ_WORDS_PER_S)
    longest = MAX_END_CARD_SHARE * ev.frame_count / ev.fps
    ok = needed - 0.5 / ev.fps <= seconds <= max(longest, needed) + 0.5 / ev.fps
    return _check("end_card_seconds", ok, seconds, round(needed, 2), ">=", "s",
                  f"{ABCD}: Direction; time to read the headline and CTA at {READ_WORDS_PER_S:g} words/s (BBC subtitle "
                  f"guidelines: 160-180 words a minute) "
                  f"(at least {MIN_END_CARD_S:g} s, at most {MAX_END_CARD_SHARE:.0%} of the cut)",
                  f"end card on screen {seconds:.2f} s; its words need {needed:.2f} s; at most {max(longest, needed):.2f} s")


CHECKS: dict[str, Check] = {
    "brand_in_first_5s": brand_early, "product_on_screen": product_share, "cta_on_screen": cta_on_screen,
    "cta_in_voice_over": cta_in_voice, "captions_on_screen": captions_present, "shots_in_first_5s": early_pacing,
    "text_in_safe_area": text_safe_area, "voice_words_per_second": voice_pace, "end_card_seconds": end_card_length,
}  # fmt: skip


def ad_checks(spec: CutSpec, result: CutResult, product_confirmed: list[bool | None] | None = None) -> list[CutCheck]:
    """Every ad check on one delivered cut, in a fixed order."""
    from agent.ad_evidence import read_evidence

    evidence = read_evidence(spec, result, BRAND_WINDOW_S)
    out = []
    for name, check in CHECKS.items():
        out.append(check(evidence, product_confirmed) if name == "product_on_screen" else check(evidence))
    return out

