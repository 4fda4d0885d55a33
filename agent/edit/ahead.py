"""An edit's new end cards, made while the run's graph loads.

A cut's end card depends on no take and no score: its frame, length, place and encoding follow from the plan,
the brand and the cut's format. So when an edit changes it (the call to action), its chunk
(agent.assembly.chunks) and what the ad checks read from that chunk (agent.chunk_evidence) are made as soon
as the edit is known, in a thread, while the command imports and runs the run's graph: importing langgraph
alone keeps one core busy for about a second, and the end card's work is mostly the encoder's, in its own
process, so it takes little from that import. Assembly later asks for the same chunk and the same answer
under the same keys and finds them made; where it gets there first, it waits for the thread's file
(`one_maker`) rather than make it twice. Each cut is laid out from its latest version, whose takes stand in
for the ones the new version will choose: they do not change the end card. Anything that fails here is left
to assembly, which makes the chunk itself and reports what fails.

(Scoring the takes under an edit's new words the same way was tried: it is Python's work, so it slowed the
import by as much as it saved.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from agent.context import RunContext
from agent.plan import Plan


@contextmanager
def end_cards_ahead(ctx: RunContext, before: dict[str, Plan], after: dict[str, Plan]) -> Iterator[None]:
    """While the block runs, make the end cards of the plans whose end card the edit changes (`before` and
    `after` it, by key); the block's end waits for them."""
    changed = [plan for key, plan in after.items() if key in before and plan.end_card != before[key].end_card]
    if not changed:
        yield
        return
    thread = threading.Thread(target=_make, args=(ctx, changed), name="briefcut-end-cards", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def _make(ctx: RunContext, plans: list[Plan]) -> None:
    from agent.ad_checks import BRAND_WINDOW_S
    from agent.ad_evidence import frames_wanted
    from agent.assembly.captions import to_yuv420
    from agent.assembly.chunks import end_chunk
    from agent.assembly.cut import cut_segments, end_card_rgb
    from agent.assembly.delivery import cut_spec
    from agent.chunk_evidence import chunk_answer
    from evaluators.scorecard import CutScorecard

    try:
        latest = {(c["plan_key"], c["format"]): c["scorecard"] for c in ctx.store.cuts(ctx.run_id) if c["scorecard"]}
    except Exception:  # noqa: BLE001 - only time is lost: assembly makes the end cards and reports what fails
        return
    parts = ctx.workspace.root / "cut-cache" / "parts"
    for plan in plans:
        for fmt in ctx.brief.formats.aspect_ratios:
            try:
                card = CutScorecard.model_validate(latest[(plan.key, fmt)])
                if len(card.shots) != len(plan.shots):
                    continue  # the edit changes the shots too: assembly lays the cut out
                spec, _ = cut_spec(ctx, plan, fmt, card)
                segments = cut_segments(spec)
                chunk = end_chunk(spec, segments, to_yuv420(end_card_rgb(spec)), parts)
                # the question assembly's checks ask of the end card (no caption page falls on it)
                chunk_answer(chunk, frames_wanted(spec, segments, segments[-1].end, BRAND_WINDOW_S), {}, segments[-1].end)
            except Exception:  # noqa: BLE001 - as above, for this cut alone
                continue
