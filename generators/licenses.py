"""The licenses of the models briefcut names by default, as their model cards state them.

Every take records the license of the weights that made it (or that it is unknown), and a cut made
with non-commercial weights says so: an ad is only shippable if its music may be used commercially.
Read from the model cards on the Hugging Face hub; a model not listed here is "unknown: check its card".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class License:
    """A model's license: its name, whether ads may use its output commercially, where to read it."""

    name: str
    commercial: bool
    url: str
    note: str = ""


STABILITY_COMMUNITY = License(
    "Stability AI Community License", True, "https://stability.ai/license",
    "for organisations below US$1M annual revenue, an enterprise license above; gated: accept its terms, log in")
CC_BY_NC = License("CC-BY-NC-4.0", False, "https://creativecommons.org/licenses/by-nc/4.0/")
CC_BY_NC_SA = License("CC-BY-NC-SA-4.0", False, "https://creativecommons.org/licenses/by-nc-sa/4.0/")
APACHE = License("Apache-2.0", True, "https://www.apache.org/licenses/LICENSE-2.0")
OPENRAIL_PP = License(
    "CreativeML OpenRAIL++-M", True, "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/blob/main/LICENSE.md",
    "use-based restrictions (its Attachment A) apply to the output and must be passed on to its users")
FLUX_DEV = License("FLUX.1 [dev] Non-Commercial License", False,
                   "https://huggingface.co/black-forest-labs/FLUX.1-dev/blob/main/LICENSE.md")
COGVIDEOX = License(
    "CogVideoX LICENSE", False, "https://huggingface.co/THUDM/CogVideoX-5b/blob/main/LICENSE",
    "commercial use only after registering with Zhipu AI and within its limits: treated as non-commercial")

# By hub id prefix (the first match wins).
KNOWN: list[tuple[str, License]] = [
    ("stabilityai/stable-audio-open", STABILITY_COMMUNITY),
    ("facebook/musicgen", CC_BY_NC),
    ("facebook/audiogen", CC_BY_NC),
    ("cvssp/audioldm", CC_BY_NC_SA),
    ("Wan-AI/Wan2.", APACHE),
    ("genmo/mochi-1", APACHE),
    ("THUDM/CogVideoX-2b", APACHE),
    ("THUDM/CogVideoX-5b", COGVIDEOX),
    ("THUDM/CogVideoX1.5-5B", COGVIDEOX),
    # keyframe (text-to-image / inpainting) models
    ("diffusers/stable-diffusion-xl-1.0-inpainting", OPENRAIL_PP),
    ("stabilityai/stable-diffusion-xl-base-1.0", OPENRAIL_PP),
    ("black-forest-labs/FLUX.1-schnell", APACHE),
    ("black-forest-labs/FLUX.1-", FLUX_DEV),
]


def license_of(model: str) -> dict[str, Any] | None:
    """The license of hub model `model` as a dict, or None when it is not one briefcut knows."""
    for prefix, lic in KNOWN:
        if model.startswith(prefix):
            return asdict(lic)
    return None


def license_line(model: str) -> str:
    """One line for a person: the license and whether ads may use the output commercially."""
    lic = license_of(model)
    if lic is None:
        return "license unknown: check the model card before using the output commercially"
    use = "commercial use allowed" if lic["commercial"] else "non-commercial use only"
    return f"{lic['name']} ({use}{'; ' + lic['note'] if lic['note'] else ''}): {lic['url']}"
