"""The spine's side of scoring: one `Scorer` per run, each cut's scorecard computed once and stored.

The scorer resolves, once per run, what every take's scoring needs: the scoring configuration, the
CLIP choice (model and dtype, loaded once per process through the backend pool) and the embedding of
the brief's product reference image. A take's score is computed once and kept three ways: in the
store, and beside its media file (score JSON and CLIP embeddings, under a signature of the configuration
and the CLIP choice) so a cached take reused by another run costs nothing. A take scored with its caption
drawn in its type layer also keeps its pixel grid beside it (evaluators.take_grid), so new words score it
again without decoding it. Each scoring pass stores a scorecard per cut (plan x format x version);
delivery, reports and `runs show` read it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.errors import MediaGone, RunNotFound
from agent.plan import Plan, Shot
from agent.store import Store
from generators.atomic import atomic_path, write_text
from generators.media import count_frames, iter_frames, kept_sha256

if TYPE_CHECKING:
    from agent.brief import Brief
    from agent.profiles import ClipChoice
    from evaluators.scorecard import CutCheck, CutScorecard, ScoringConfig, TakeScore, WeakShot
    from generators.base import BackendPool

# Weight-free metrics run on frames scaled down to this (CLIP resizes to 224 anyway).
SCORING_MAX_SIDE = 320


def scoring_config(brief: Brief) -> ScoringConfig:
    """The brief's scoring configuration (its metric names were checked when the brief loaded)."""
    from evaluators.scorecard import ScoringConfig

    s = brief.scoring
    return ScoringConfig.from_brief_parts(s.weights, s.thresholds, s.frames_per_take, brief.refine.threshold)


class Scorer:
    """Scoring for one run. `stats` counts the work done (configs built, reference embeddings,
    takes scored or read back, scorecards built), so a run can show it scored each thing once."""

    def __init__(self, run_id: str, brief: Brief, clip: ClipChoice, store: Store, pool: BackendPool,
                 warn: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.run_id, self.brief, self.clip, self.store, self.pool = run_id, brief, clip, store, pool
        self.warn = warn
        self.stats: Counter[str] = Counter()
        self.config = scoring_config(brief)
        self.stats["configs_built"] += 1
        # "p": product likeness is judged on product shots only (older score files judged every shot)
        blob = json.dumps([self.config.model_dump(mode="json"), clip.model, clip.dtype, "p"], sort_keys=True)
        self.signature = hashlib.sha256(blob.encode()).hexdigest()[:12]
        self._embedder: tuple[Any, str | None] | None = None
        self._reference: tuple[np.ndarray | None] | None = None
        # Takes are scored in threads (decoding and numpy release the GIL); CLIP calls take turns, since
        # a tokenizer is not made for concurrent calls and the model uses every core anyway.
        self._lock, self._clip_lock = threading.Lock(), threading.Lock()

    # 1. what every take needs, resolved once -------------------------------------------------------
    def embedder(self) -> tuple[Any, str | None]:
        """The CLIP embedder (loaded once per process through the pool), or (None, why not)."""
        if self._embedder is None:
            if not self.clip.model or self.clip.model.lower() == "none":
                self._embedder = (None, "no CLIP model configured (CLIP metrics off)")
            else:
                from evaluators.clip import load_embedder

                model, dtype = self.clip.model, self.clip.dtype
                self._embedder = self.pool.shared(f"clip:{model}:{dtype}", lambda: load_embedder(model, dtype=dtype))
        return self._embedder

    def reference_embed(self) -> np.ndarray | None:
        """The CLIP embedding of the brief's product reference image (None without an image or CLIP)."""
        if self._reference is None:
            path, (embedder, _) = self.brief.product.reference_image, self.embedder()
            embed = None
            if path is not None and embedder is not None:
                from PIL import Image

                embed = embedder.embed_images(np.asarray(Image.open(path).convert("RGB"))[None])[0]
                self.stats["reference_embeds"] += 1
            self._reference = (embed,)
        return self._reference[0]

    # 2. takes ------------------------------------------------------------------------------------
    def take_score(self, take: dict, prompt: str, shows_product: bool = True,
                   caption: tuple[str, bool, str] | None = None) -> TakeScore:  # fmt: skip
        """A video take's score: from the store, else from beside its media file, else computed. A take with
        a type layer is scored as delivered, with `caption` (its words, whether it enters, its segment) set
        in it."""
        from evaluators.scorecard import TakeScore

        typed = self._typed(take, caption)
        stored = self._stored(take, caption, typed)
        if stored is not None:
            self._count("takes_read")
            return TakeScore.model_validate(stored)
        score = self._score_file(take, prompt, shows_product, typed)
        if typed:
            score.notes["type_layer"] = typed[0]  # the caption its frames were scored with (a digest)
        self.store.save_score(take["id"], score.model_dump(mode="json"))
        return score

    @staticmethod
    def caption_of(plan: Plan, shot: Shot) -> tuple[str, bool, str]:
        """A shot's caption, whether it comes on with the shot (not the one the shot before shows), and its
        plan's segment (whose language it is in)."""
        at = next(i for i, s in enumerate(plan.shots) if s is shot or (s.uid, s.index) == (shot.uid, shot.index))
        before = plan.shots[at - 1].caption.strip() if at > 0 else ""
        text = shot.caption.strip()
        return text, not text or text != before, plan.segment

    def _stored(self, take: dict, caption: tuple[str, bool, str] | None, typed: Any = False) -> dict | None:
        """The take's stored score when it was scored with this caption (or the take has no type layer)."""
        typed = self._typed(take, caption) if typed is False else typed
        stored = self.store.score(take["id"])
        if stored is not None and (stored.get("notes") or {}).get("type_layer") == (typed[0] if typed else None):
            return stored
        return None

    def _typed(self, take: dict, caption: tuple[str, bool, str] | None) -> tuple[str, dict[str, Any]] | None:
        """(digest, what draws it) of the caption a take's type layer sets, or None for a take without one."""
        layer = (take.get("metadata") or {}).get("type_layer")
        if layer is None or caption is None:
            return None
        font = self.brief.brand.font
        from agent.voices import segment_language

        text, enters, segment = caption
        lang = segment_language(self.brief, self.brief.segment(segment))
        from agent.assembly.type_track import TYPE_FORMAT

        # TYPE_FORMAT: a new way of setting the same type is scored again
        made_of = [layer, text, enters, kept_sha256(font) if font and Path(font).is_file() else None, lang, TYPE_FORMAT]
        digest = hashlib.sha256(json.dumps(made_of, sort_keys=True, default=str).encode()).hexdigest()[:12]
        return digest, {"layer": layer, "text": text, "enters": enters, "font": font, "lang": lang}

    def _score_file(self, take: dict, prompt: str, shows_product: bool,
                    typed: tuple[str, dict[str, Any]] | None = None) -> TakeScore:  # fmt: skip
        media = Path(take["path"])
        tag = f"{self.signature}-t{typed[0]}" if typed else self.signature
        score_file = media.with_name(f"{media.stem}.score-{tag}{'' if shows_product else '-np'}.json")
        embeds_file = media.with_name(f"{media.stem}.clip-{tag}.npy")
        score = self._cached_score(score_file)
        if score is not None:
            self._count("takes_from_file")
        else:
            score, embeds = self._stream_score(media, take, prompt, shows_product, typed)
            self._count("takes_scored")
            if embeds is not None:
                with atomic_path(embeds_file) as tmp, open(tmp, "wb") as handle:
                    np.save(handle, embeds)
            write_text(score_file, score.model_dump_json())
        if embeds_file.exists() and load_embeds(embeds_file) is not None:
            self.store.update("takes", take["id"], embeds_path=str(embeds_file))
            take["embeds_path"] = str(embeds_file)
        return score

    def _stream_score(self, media: Path, take: dict, prompt: str, shows_product: bool,
                      typed: tuple[str, dict[str, Any]] | None = None) -> tuple[TakeScore, np.ndarray | None]:  # fmt: skip
        """Score a take's file in one decoding pass (frames scaled down, never all held at once), with its
        caption set in its type layer on every frame when it has one (the shot as delivered)."""
        from evaluators.scorecard import FrameCountChanged, score_frames
        from evaluators.take_grid import Grid, GridDamaged, GridTap, grid_path

        embedder, reason = self.embedder()
        embedder = None if embedder is None else _TakingTurns(embedder, self._clip_lock)
        options = dict(prompt=prompt, palette=self.brief.brand.palette, config=self.config, embedder=embedder,
                       embedder_reason=reason, reference_embed=self.reference_embed(), shows_product=shows_product,
                       native_indices=(take.get("metadata") or {}).get("native_frames"))  # fmt: skip

        def typed_over(frames: Any, total: int) -> Any:
            if typed is None:
                return frames
            from generators.type_layer import TypeLayer, typed_frames

            how = typed[1]
            fps = float((take.get("metadata") or {}).get("fps") or take_fps(media))
            return typed_frames(frames, TypeLayer.from_record(how["layer"]), how["text"], fps, total, how["font"],
                                how["lang"], how["enters"])  # fmt: skip

        # A take scored with its words drawn is scored again when the words change: its pixel grid, kept
        # beside it by the first pass, stands in for decoding it (evaluators.take_grid; CLIP needs whole frames).
        grid = grid_path(media, SCORING_MAX_SIDE) if typed is not None and embedder is None else None
        if grid is not None and grid.is_file():
            try:
                kept = Grid(grid)
                result = score_frames(typed_over(kept.carriers(), kept.count), kept.count, **options)
                self._count("takes_from_grid")
                return result
            except GridDamaged as exc:  # decoded below, and its grid kept again
                discard(grid, f"unreadable pixel grid ({exc})", self.warn)

        def decoded(total: int) -> tuple[TakeScore, np.ndarray | None]:
            with GridTap(grid, self.warn) as tap:
                frames = tap.frames(iter_frames(media, max_side=SCORING_MAX_SIDE))
                return score_frames(typed_over(frames, total), total, **options)

        count = count_frames(media)
        try:
            return decoded(count)
        except FrameCountChanged as changed:  # a packet that decodes to no frame: sample what decodes
            return decoded(changed.counted)

    def _count(self, what: str) -> None:
        with self._lock:
            self.stats[what] += 1

    def score_all(self, plans: dict[str, Plan], formats: list[str]) -> None:
        """Score every candidate take of these cuts not scored yet, several at once within the core budget
        (`balanced_workers`); each take's score is what scoring it alone gives."""
        from agent.runner import balanced_workers, in_threads

        todo = self._unscored(plans, formats)
        workers = balanced_workers(len(todo))
        if workers < 2:
            return  # the cuts score their takes as they read them
        self.embedder(), self.reference_embed()  # resolved once, before the threads
        in_threads(lambda job: self.take_score(*job), todo, workers, "score")

    def _unscored(self, plans: dict[str, Plan], formats: list[str]) -> list[tuple[dict, str, bool, tuple[str, bool, str]]]:
        """(take, prompt, shows product, caption) of every candidate take of these cuts that the store has no score for."""
        todo: dict[str, tuple[dict, str, bool]] = {}
        for plan in plans.values():
            for fmt in formats:
                for shot in plan.shots:
                    caption = self.caption_of(plan, shot)
                    for take in self.candidates(plan, shot, fmt):
                        if take["id"] not in todo and not self._stored(take, caption):
                            todo[take["id"]] = (take, shot.prompt, shot.shows_product, caption)
        return list(todo.values())

    def _cached_score(self, score_file: Path) -> TakeScore | None:
        """The score kept beside a media file, or None; a damaged file (empty after a full disk, cut
        short) is removed with a warning and the take is scored again."""
        from evaluators.scorecard import TakeScore

        if not score_file.exists():
            return None
        try:
            return TakeScore.model_validate_json(score_file.read_bytes())
        except (OSError, ValueError) as exc:
            discard(score_file, f"unreadable score cache ({_short(exc)})", self.warn)
            return None

    def candidates(self, plan: Plan, shot: Shot, fmt: str) -> list[dict]:
        """Finished takes that may stand for this shot in this format (same shot, current lineage)."""
        return [r for r in self._finished(plan, shot, fmt) if r["path"] and Path(r["path"]).exists()]

    def _finished(self, plan: Plan, shot: Shot, fmt: str) -> list[dict]:
        """The store's finished takes of this shot in this format (current lineage), files there or not."""
        return self.store.rows(
            "takes",
            "run_id = ? and kind = 'video' and plan_key = ? and shot_uid = ? and format = ? and lineage = ? "
            "and status = 'done'",
            [self.run_id, plan.key, shot.uid, fmt, shot.lineage],
            order_by="created_at",
        )

    def _no_take(self, plan: Plan, shot: Shot, fmt: str) -> Exception:
        """Why a shot has no take to choose: its finished takes' files are gone (named), or it has none."""
        where = f"shot {shot.index + 1} of {plan.key} ({fmt})"
        gone = [r["path"] for r in self._finished(plan, shot, fmt) if r["path"]]
        if not gone:
            return RuntimeError(f"no finished take for {where}")
        return MediaGone(f"{where}: the file{'s' if len(gone) > 1 else ''} of its {len(gone)} finished take"
                         f"{'s are' if len(gone) > 1 else ' is'} gone ({', '.join(gone[:2])}{', ...' if len(gone) > 2 else ''}): "
                         "deleted, or the workspace moved since they were made (a run's records name its files "
                         "where they were made); put them back, or make a new run (briefcut run BRIEF --fresh)")  # fmt: skip

    def choose_takes(self, plan: Plan, fmt: str) -> tuple[list[dict], list[TakeScore]]:
        """The best-scoring take per shot and its score, scoring any take not yet scored."""
        chosen, scores = [], []
        for shot in plan.shots:
            best: tuple[dict, TakeScore] | None = None
            for take in self.candidates(plan, shot, fmt):
                score = self.take_score(take, shot.prompt, shot.shows_product, self.caption_of(plan, shot))
                if best is None or score.composite > best[1].composite:
                    best = (take, score)
            if best is None:
                raise self._no_take(plan, shot, fmt)
            chosen.append(best[0])
            scores.append(best[1])
        return chosen, scores

    # 3. cuts -------------------------------------------------------------------------------------
    def cut_card(self, plan: Plan, fmt: str) -> CutScorecard:
        """The scorecard of one cut from its chosen takes (each shot names its take, seed and backend)."""
        from evaluators.scorecard import cut_scorecard

        chosen, scores = self.choose_takes(plan, fmt)
        embeds = [load_embeds(Path(t["embeds_path"]), self.warn) if t.get("embeds_path") else None for t in chosen]
        card = cut_scorecard(scores, embeds, self.config)
        for entry, take in zip(card.shots, chosen, strict=True):
            entry.take, entry.seed, entry.backend = take["id"], take["seed"], take["backend"]
        self.stats["cards_built"] += 1
        return card

    def score_cuts(self, plans: dict[str, Plan], formats: list[str], version: int,
                   done: Callable[[], None] = lambda: None) -> dict[tuple[str, str], CutScorecard]:  # fmt: skip
        """Score every cut of this pass and store each scorecard under (plan, format, version)."""
        self.score_all(plans, formats)
        cards = {}
        for plan in plans.values():
            for fmt in formats:
                card = self.cut_card(plan, fmt)
                self.store.save_scorecard(self.run_id, plan.key, fmt, version, card.model_dump(mode="json"))
                cards[(plan.key, fmt)] = card
                done()
        return cards

    def stored_card(self, plan: Plan, fmt: str, version: int) -> CutScorecard:
        """The stored scorecard of a cut (computed and stored here if this pass has none)."""
        from evaluators.scorecard import CutScorecard

        row = self.store.scorecard(self.run_id, plan.key, fmt, version)
        if row is not None and _same_takes(row, self.store, plan, fmt):
            return CutScorecard.model_validate(row)
        card = self.cut_card(plan, fmt)
        self.store.save_scorecard(self.run_id, plan.key, fmt, version, card.model_dump(mode="json"))
        return card


class _TakingTurns:
    """An embedder whose calls take turns under a lock (scoring threads share one CLIP model)."""

    def __init__(self, embedder: Any, lock: threading.Lock) -> None:
        self._embedder, self._lock = embedder, lock

    def embed_images(self, frames: np.ndarray) -> np.ndarray:
        with self._lock:
            return self._embedder.embed_images(frames)

    def embed_text(self, texts: str | list[str]) -> np.ndarray:
        with self._lock:
            return self._embedder.embed_text(texts)


def take_fps(media: Path) -> float:
    """A video file's frame rate, from its container."""
    from agent.assembly.timeline import take_info

    return take_info(media).fps


def add_check(store: Store, run_id: str, cut: tuple[str, str, int], check: CutCheck) -> CutScorecard:
    """Add (or replace, by name) one per-cut check on a stored scorecard: how another judge (an audience
    panel, a provenance verifier) records its verdict where delivery, reports and views already look.
    `cut` is (plan key, format, version)."""
    from evaluators.scorecard import CutScorecard

    plan_key, fmt, version = cut
    row = store.scorecard(run_id, plan_key, fmt, version)
    if row is None:
        raise RunNotFound(f"run {run_id} has no scorecard for {plan_key} {fmt} version {version}")
    card = CutScorecard.model_validate(row)
    card.set_check(check)
    store.save_scorecard(run_id, plan_key, fmt, version, card.model_dump(mode="json"))
    return card


def _same_takes(card: dict, store: Store, plan: Plan, fmt: str) -> bool:
    """Whether a stored card still describes the plan: one shot per plan shot, each take still there."""
    shots = card.get("shots") or []
    return len(shots) == len(plan.shots) and all(
        s.get("take") and (t := store.get("takes", s["take"])) and t["shot_uid"] == p.uid and t["lineage"] == p.lineage
        for s, p in zip(shots, plan.shots, strict=True)
    )


def load_embeds(path: Path, warn: Callable[[str], None] | None = None) -> np.ndarray | None:
    """CLIP embeddings kept beside a take, or None; a damaged file is removed (with a warning), so the
    metrics that need it are computed again or reported as not computed, never a failed run."""
    try:
        embeds = np.load(path, allow_pickle=False)
        if embeds.ndim == 2 and np.isfinite(embeds).all():
            return embeds
        raise ValueError(f"shape {embeds.shape}")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError) as exc:
        discard(path, f"unreadable embedding cache ({_short(exc)})", warn)
        return None


def discard(path: Path, why: str, warn: Callable[[str], None] | None) -> None:
    """Remove a damaged cache file and say so."""
    path.unlink(missing_ok=True)
    if warn is not None:
        warn(f"{path}: {why}; removed, it will be made again")


def _short(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:160]


# 4. advice for the planner -----------------------------------------------------------------------
ADVICE = {
    "clip_score": "the frames drift from the prompt: make the subject and action more explicit and concrete",
    "frame_consistency": "the look changes within the shot: keep one subject, setting and lighting throughout",
    "vbench_consistency": "the subject or background morphs over time: hold the subject steady, simplify the scene",
    "product_consistency": "the product drifts from the reference: keep the product whole, centred and in frame "
    "throughout, with a gentle camera move around it, and describe it exactly (shape, colour, label)",
    "temporal_flicker": "the picture flickers: ask for steady lighting and a calm, locked-off camera",
    "motion": "the shot is too static: add a clear camera move or subject action",
    "palette_adherence": "the colours stray from the brand palette: name the brand colours in the scene",
    "not_black": "frames come out black: ask for a well-lit scene",
    "not_frozen": "the picture freezes: ask for continuous, visible movement",
    "composite": "the shot is weak overall: tighten the prompt around one subject, one action, one setting",
}
DEFAULT_ADVICE = "the shot scored low: make the prompt clearer and more concrete"


def revise_feedback(weak: WeakShot) -> str:
    """A plain-English instruction for the planner's revise, from the shot's worst metric."""
    return f"Shot {weak.shot + 1}: {ADVICE.get(weak.metric, DEFAULT_ADVICE)} ({weak.reason})."


def weak_shots(cards: dict[tuple[str, str], CutScorecard], plans: dict[str, Plan], config: ScoringConfig,
               limit: int) -> list[dict]:  # fmt: skip
    """Weak shots across every cut, lowest first, one entry per (plan, shot)."""
    from evaluators.scorecard import weakest_shots

    found: dict[tuple[str, str], dict] = {}
    for (key, fmt), card in cards.items():
        plan = plans[key]
        for weak in weakest_shots(card, config, limit=len(plan.shots)):
            uid = plan.shots[weak.shot].uid
            entry = {"plan_key": key, "shot": weak.shot, "uid": uid, "format": fmt, "metric": weak.metric,
                     "value": weak.value, "threshold": weak.threshold, "reason": weak.reason,
                     "feedback": revise_feedback(weak)}  # fmt: skip
            if (key, uid) not in found or entry["value"] < found[(key, uid)]["value"]:
                found[(key, uid)] = entry
    return sorted(found.values(), key=lambda e: e["value"] - e["threshold"])[:limit]
