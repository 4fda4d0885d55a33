"""The cut's H.264 encoder settings: an x264 preset and CRF, chosen per profile, changed by a brief or the CLI.

Why the preview profile encodes `ultrafast` (bench/assembly.py --preview, 30 s 9:16 720p of motion takes,
each cut against the same cut encoded losslessly): x264's encode was ~14 of the ~24 CPU-seconds of
assembly at `veryfast`; `ultrafast` takes about half of that (~20 -> ~9 ms a frame), and at the same CRF
its frames are closer to the lossless ones (PSNR 46.3 -> 49.8 dB, SSIM 0.991 -> 0.994), paid for in bytes
(5.4 -> 17.2 MB with the sound, 4.6 Mbit/s: no CABAC, no B-frames, no deblocking, no macroblock tree). The
watermark reads back the same from both. `superfast` saved only a fifth of the encoder's CPU. The other
profiles keep `veryfast`: their cuts are the ones to deliver, where the smaller file is worth the CPU.
A CRF is a quality target within a preset, so it stays 20 everywhere: `--preset veryfast` on a preview run
makes the very cut it made before.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

# x264's presets, fastest first.
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")  # fmt: skip
PROFILE_PRESETS = {"preview": "ultrafast", "smoke": "veryfast", "gpu": "veryfast"}
DEFAULT_CRF = 20
# Runs stored before the setting existed were encoded so.
BEFORE_SETTING = {"preset": "veryfast", "crf": DEFAULT_CRF}


def known_preset(name: str) -> str:
    """`name` if it is an x264 preset, else one error that lists them."""
    if name not in X264_PRESETS:
        raise PydanticCustomError("unknown_preset", "unknown x264 preset '{name}'; known: {known}",
                                  {"name": name, "known": ", ".join(X264_PRESETS)})  # fmt: skip
    return name


X264Preset = Annotated[str, AfterValidator(known_preset)]
Crf = Annotated[int, Field(ge=0, le=51)]  # 0 is lossless (8-bit x264), 51 the worst


class Encoder(BaseModel):
    """How a run's cuts are encoded; resolved once (profile, brief, CLI) and stored with the run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: X264Preset
    crf: Crf = DEFAULT_CRF


def profile_encoder(profile: str, preset: str | None = None, crf: int | None = None) -> Encoder:
    """The profile's encoder, with the preset and CRF given (the brief's or the CLI's) in its place."""
    return Encoder(preset=preset or PROFILE_PRESETS.get(profile, BEFORE_SETTING["preset"]),
                   crf=DEFAULT_CRF if crf is None else crf)  # fmt: skip
