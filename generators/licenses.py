"""The licenses of the weights and programs briefcut renders with, each fact with where it was read.

Every backend declares, for the models it offers by default or by name, the license of the weights
(`Backend.licenses()`), so a run can be refused before anything renders when its brief's `usage`
(commercial, non-commercial, internal) is one the license forbids (`agent.licensing`). Facts come from
the model cards on the Hugging Face hub (`source`); a model not listed here is looked up in its local
model card's front matter (`license: apache-2.0`), and otherwise is "unknown: check its card".
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

Usage = Literal["commercial", "non-commercial", "internal"]
USAGES: tuple[str, ...] = ("commercial", "non-commercial", "internal")


@dataclass(frozen=True)
class License:
    """A license: its name, URL, what uses it allows (None: not known), its restrictions, and the source.

    `commercial`: the output may be used to promote or sell (an ad). `internal`: the output may be used
    inside an organisation without publishing it; a non-commercial license forbids that too, since an
    organisation's internal use serves its business. Non-commercial use is allowed by every license here.
    """

    name: str
    url: str
    commercial: bool | None
    restrictions: tuple[str, ...] = ()
    source: str = ""
    internal: bool | None = None
    note: str = ""


def _card(model: str) -> str:
    return f"https://huggingface.co/{model}"


APACHE_URL = "https://www.apache.org/licenses/LICENSE-2.0"
NC = ("non-commercial use only",)
STABILITY_COMMUNITY = License(
    "Stability AI Community License", "https://huggingface.co/stabilityai/stable-audio-open-1.0/blob/main/LICENSE.md",
    True, ("revenue cap: free for individuals and organisations under US$1M annual revenue; above it an "
           "Enterprise license from Stability AI", "gated: accept the terms on the hub and log in"),
    _card("stabilityai/stable-audio-open-1.0"),
    note="for organisations below US$1M annual revenue, an enterprise license above; gated: accept its terms, log in")
CC_BY_NC = License("CC-BY-NC-4.0", "https://creativecommons.org/licenses/by-nc/4.0/", False, NC)
CC_BY_NC_SA = License("CC-BY-NC-SA-4.0", "https://creativecommons.org/licenses/by-nc-sa/4.0/", False,
                      NC + ("share-alike: adaptations under the same license",))
APACHE = License("Apache-2.0", APACHE_URL, True)
OPENRAIL_M = License(
    "CreativeML OpenRAIL-M", "https://huggingface.co/spaces/CompVis/stable-diffusion-license", True,
    ("use-based restrictions (the license's Attachment A: no unlawful, harmful or deceptive uses), passed on "
     "to anyone who gets the output's model or a derivative",))
HUNYUAN = License(
    "Tencent Hunyuan Community License", "https://huggingface.co/tencent/HunyuanVideo/blob/main/LICENSE", True,
    ("excluded territories: the license does not apply in the European Union, the United Kingdom and South Korea",
     "over 100 million monthly active users: a license from Tencent first", "acceptable use policy (its Exhibit A)"),
    _card("tencent/HunyuanVideo"))
OPENRAIL_PP = License(
    "CreativeML OpenRAIL++-M", "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/blob/main/LICENSE.md",
    True, ("use-based restrictions (its Attachment A) apply to the output and must be passed on to its users",))
FLUX_DEV = License("FLUX.1 [dev] Non-Commercial License",
                   "https://huggingface.co/black-forest-labs/FLUX.1-dev/blob/main/LICENSE.md", False, NC,
                   _card("black-forest-labs/FLUX.1-dev"))
# CogVideoX 1.5: commercial use only after registering with the licensor: treated as non-commercial.
COGVIDEOX = License(
    "CogVideoX LICENSE", "https://huggingface.co/THUDM/CogVideoX-5b/blob/main/LICENSE", False,
    ("commercial use only after registering with Zhipu AI and within its limits: treated as non-commercial",),
    _card("THUDM/CogVideoX1.5-5B"))
MIT_CLIP = License("MIT", "https://github.com/openai/CLIP/blob/main/LICENSE", True, (),
                   "https://github.com/openai/CLIP/blob/main/LICENSE")

# By hub id prefix (the first match wins); each with the model card its facts were read from.
KNOWN: list[tuple[str, License]] = [
    ("stabilityai/stable-audio-open", STABILITY_COMMUNITY),
    ("facebook/musicgen", replace(CC_BY_NC, source=_card("facebook/musicgen-small"))),
    ("facebook/audiogen", replace(CC_BY_NC, source=_card("facebook/audiogen-medium"))),
    ("cvssp/audioldm", replace(CC_BY_NC_SA, source=_card("cvssp/audioldm2"))),
    ("Wan-AI/Wan2.1", replace(APACHE, source=_card("Wan-AI/Wan2.1-T2V-1.3B-Diffusers"))),
    ("Wan-AI/Wan2.2", replace(APACHE, source=_card("Wan-AI/Wan2.2-T2V-A14B-Diffusers"))),
    ("genmo/mochi-1", replace(APACHE, source=_card("genmo/mochi-1-preview"))),
    ("THUDM/CogVideoX-2b", replace(APACHE, source=_card("THUDM/CogVideoX-2b"))),
    ("zai-org/CogVideoX-2b", replace(APACHE, source=_card("zai-org/CogVideoX-2b"))),
    ("hunyuanvideo-community/HunyuanVideo", HUNYUAN),
    ("tencent/HunyuanVideo", HUNYUAN),
    ("guoyww/animatediff-motion-adapter", replace(APACHE, source=_card("guoyww/animatediff-motion-adapter-v1-5-2"))),
    ("stable-diffusion-v1-5/stable-diffusion-v1-5", replace(OPENRAIL_M, source=_card("stable-diffusion-v1-5/stable-diffusion-v1-5"))),
    ("runwayml/stable-diffusion-v1-5", replace(OPENRAIL_M, source=_card("stable-diffusion-v1-5/stable-diffusion-v1-5"))),
    ("openai/clip-vit", MIT_CLIP),
    ("THUDM/CogVideoX-5b", replace(COGVIDEOX, source=_card("THUDM/CogVideoX-5b"))),
    ("THUDM/CogVideoX1.5-5B", COGVIDEOX),
    # keyframe (text-to-image / inpainting) models
    ("diffusers/stable-diffusion-xl-1.0-inpainting", replace(OPENRAIL_PP, source=_card("diffusers/stable-diffusion-xl-1.0-inpainting-0.1"))),
    ("stabilityai/stable-diffusion-xl-base-1.0", replace(OPENRAIL_PP, source=_card("stabilityai/stable-diffusion-xl-base-1.0"))),
    ("black-forest-labs/FLUX.1-schnell", replace(APACHE, source=_card("black-forest-labs/FLUX.1-schnell"))),
    ("black-forest-labs/FLUX.1-", FLUX_DEV),
]
# Models briefcut names whose license depends on the checkpoint or needs a reading we have not made:
# listed so nobody takes them for known. They count as unknown (a warning, never silently commercial).
UNVERIFIED: dict[str, str] = {
    "Lightricks/LTX-Video": "the license depends on the checkpoint version (OpenRAIL-M for 0.9.0/0.9.1, "
                            "the LTXV Open Weights License for later ones): read the card",
}

# The programs and code of the offline backends: briefcut's own (Apache-2.0) or run as separate programs.
BRIEFCUT_CODE = License("Apache-2.0", APACHE_URL, True, (), "briefcut's pyproject.toml (license: Apache-2.0)",
                        note="briefcut's own code; no model weights")
ESPEAK_NG = License("GPL-3.0-or-later", "https://github.com/espeak-ng/espeak-ng/blob/master/COPYING", True,
                    ("the engine runs as a separate program; the GPL covers the program, not the speech it makes",),
                    "https://github.com/espeak-ng/espeak-ng#license")
PIPER_ENGINE = License("GPL-3.0-or-later", "https://github.com/OHF-Voice/piper1-gpl/blob/main/COPYING", True,
                       ("the engine runs as a separate program (`python -m piper`); the GPL covers the program, "
                        "not the speech it makes; each voice has its own license",),
                       "https://pypi.org/project/piper-tts/")
# Short license ids as model cards and voice cards write them (front matter `license:`).
BY_ID: dict[str, License] = {
    "apache-2.0": APACHE, "mit": License("MIT", "https://opensource.org/license/mit", True),
    "cc0": License("CC0-1.0", "https://creativecommons.org/publicdomain/zero/1.0/", True),
    "cc0-1.0": License("CC0-1.0", "https://creativecommons.org/publicdomain/zero/1.0/", True),
    "cc-by-4.0": License("CC-BY-4.0", "https://creativecommons.org/licenses/by/4.0/", True, ("attribution",)),
    "cc-by-nc-4.0": CC_BY_NC, "cc-by-nc-sa-4.0": CC_BY_NC_SA,
    "creativeml-openrail-m": OPENRAIL_M, "openrail": replace(OPENRAIL_M, name="OpenRAIL"),
}


def lookup(model: str) -> License | None:
    """The license of `model` (a hub id or a local folder), or None when it is not known."""
    for prefix, lic in KNOWN:
        if model.startswith(prefix):
            return lic
    for prefix, why in UNVERIFIED.items():
        if model.startswith(prefix):
            return License("unverified", _card(prefix), None, (why,), _card(prefix))
    return card_license(Path(model)) if model and Path(model).exists() else None


def card_license(folder: Path) -> License | None:
    """The license a local model folder's card states in its front matter (`license: apache-2.0`)."""
    card = folder / "README.md" if folder.is_dir() else folder.with_suffix(".md")
    try:
        text = card.read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(r"^license:\s*([\w.\-]+)\s*$", text.split("\n---", 1)[0], re.MULTILINE)
    if not found:
        return None
    known = BY_ID.get(found.group(1).lower())
    source = str(card)
    return replace(known, source=source) if known else License(found.group(1), "", None, (), source)


def by_id(license_id: str, source: str = "") -> License:
    """A license from a short id as a card writes it ('CC0', 'apache-2.0'); unknown ids keep their name."""
    known = BY_ID.get(license_id.lower())
    return replace(known, source=source) if known else License(license_id, "", None, (), source)


def declared(model: str, role: str, lic: License | None) -> dict[str, Any]:
    """One declaration for provenance and checks: the model (or program), its role and its license."""
    base = {"model": model, "role": role}
    if lic is None:
        return base | {"name": "unknown", "url": "", "commercial": None, "internal": None, "restrictions": [],
                       "source": "", "note": "license unknown: check the model card"}
    return base | {**asdict(lic), "restrictions": list(lic.restrictions)}


def license_of(model: str) -> dict[str, Any] | None:
    """The license of model `model` as a dict, or None when it is not one briefcut knows."""
    lic = lookup(model)
    return None if lic is None or lic.commercial is None else {**asdict(lic), "restrictions": list(lic.restrictions)}


def license_line(model: str) -> str:
    """One line for a person: the license and whether ads may use the output commercially."""
    lic = lookup(model)
    if lic is None or lic.commercial is None:
        why = lic.restrictions[0] if lic else "check the model card before using the output commercially"
        return f"license unknown: {why}"
    use = "commercial use allowed" if lic.commercial else "non-commercial use only"
    notes = "; ".join(r for r in lic.restrictions if r not in NC)
    return f"{lic.name} ({use}{'; ' + notes if notes else ''}): {lic.url}"
