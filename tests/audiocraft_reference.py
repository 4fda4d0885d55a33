"""Reference outputs from audiocraft 1.3.0's own AudioGen code (run in a subprocess by the test fixture).

    python tests/audiocraft_reference.py OUT_DIR SMOKE_CHECKPOINT_DIR

audiocraft's source and its small pure-Python import-time deps are on PYTHONPATH (see
tests/fixtures/audiogen.py); torch and transformers are the project's. Stubs, installed here only
(this process), for modules that cannot be installed beside the project's torch or are not on the
inference path:
- `xformers`: audiocraft's transformer imports `xformers.ops` at module level. With the default
  'torch' attention backend only two names are used: `ops.unbind` (== torch.unbind) and
  `ops.LowerTriangularMask` (a marker meaning "causal", after which torch SDPA runs with is_causal).
- `torchaudio`, `librosa`, `spacy`: imported at module level by data loading, chroma features and
  the text normaliser; none runs for AudioGen inference (normalize_text is false).
- `audiocraft.models.multibanddiffusion`: imported by `audiocraft.models`, it pulls the training
  solvers (losses, metrics, optimisers); AudioGen does not use the MBD decoder.

Writes OUT_DIR/checkpoint/{state_dict.bin, compression_state_dict.bin} (a toy AudioGen built with
audiocraft's builders, saved as audiocraft's export does), the same with `xp.cfg` a pickled omegaconf
DictConfig in OUT_DIR/checkpoint-dictconfig/, and OUT_DIR/reference.pt (inputs, outputs).
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from pathlib import Path

import torch


def _stub(name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


class LowerTriangularMask:
    """xformers' causal-mask marker; audiocraft only checks it is not None before calling torch SDPA."""


def install_stubs() -> None:
    import transformers  # noqa: F401  (import first: its availability checks must not see the stubs)
    from transformers import EncodecModel, T5EncoderModel  # noqa: F401

    def unavailable(*args: object, **kwargs: object) -> None:
        raise RuntimeError("xformers stub: memory_efficient_attention is not available")

    _stub("xformers").ops = _stub("xformers.ops", unbind=torch.unbind, LowerTriangularMask=LowerTriangularMask,
                                  memory_efficient_attention=unavailable)
    _stub("torchaudio")
    _stub("spacy")
    _stub("librosa").filters = _stub("librosa.filters")
    _stub("audiocraft.models.multibanddiffusion", MultiBandDiffusion=None)


def perturb(model: torch.nn.Module, gen: torch.Generator, scale: float = 0.1) -> None:
    """Move every weight off its init (LayerNorm ones/zeros included) so no mapping hides behind it."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))


def build_toy(out: Path) -> None:
    """A toy AudioGen from audiocraft's builders, saved in the published layout."""
    import audiocraft
    from audiocraft.models import builders
    from omegaconf import OmegaConf

    from generators.audiogen_export import codec_xp_cfg, lm_xp_cfg

    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    lm_cfg = OmegaConf.create(lm_xp_cfg(dim=48, num_heads=4, num_layers=2, n_q=4, card=64, hidden_scale=4))
    lm = builders.get_lm_model(lm_cfg)
    perturb(lm, gen)
    codec_cfg = OmegaConf.create(codec_xp_cfg(n_filters=8, dimension=32, ratios=[8, 5, 4, 2], lstm=2, n_q=4,
                                              bins=64))
    codec = builders.get_compression_model(codec_cfg)
    perturb(codec, gen, scale=0.05)
    with torch.no_grad():
        for layer in codec.quantizer.vq.layers:
            layer._codebook.embed.copy_(torch.randn(layer._codebook.embed.shape, generator=gen))
            layer._codebook.inited.fill_(1.0)
    for name, model, cfg in (("state_dict.bin", lm, lm_cfg), ("compression_state_dict.bin", codec, codec_cfg)):
        pkg = {"best_state": model.state_dict(), "xp.cfg": OmegaConf.to_yaml(cfg),
               "version": audiocraft.__version__, "exported": True}
        out.mkdir(parents=True, exist_ok=True)
        torch.save(pkg, out / name)
        # the same package with xp.cfg left as the DictConfig itself, as solver checkpoints (and older
        # exports) hold it: torch >= 2.6's weights_only loading refuses these
        (out.parent / "checkpoint-dictconfig").mkdir(exist_ok=True)
        torch.save({**pkg, "xp.cfg": cfg}, out.parent / "checkpoint-dictconfig" / name)


def reference_outputs(ckpt: Path, seed: int) -> dict[str, torch.Tensor]:
    """Load `ckpt` with audiocraft's loaders and record logits, generations, decode and encode."""
    from audiocraft.models.loaders import load_compression_model, load_lm_model
    from audiocraft.modules.conditioners import ConditioningAttributes

    lm, codec = load_lm_model(ckpt), load_compression_model(ckpt)
    gen = torch.Generator().manual_seed(seed)
    prompts = ["a dog barks twice in the rain", "door", ""]
    conditions = [ConditioningAttributes(text={"description": p}) for p in prompts]
    codes = torch.randint(0, lm.card, (3, lm.n_q, 12), generator=gen)
    out: dict[str, torch.Tensor] = {"codes": codes}
    with torch.no_grad():
        pred = lm.compute_predictions(codes, conditions)
        out["logits"], out["logits_mask"] = pred.logits, pred.mask[0]
        two = conditions[:2]
        out["greedy"] = lm.generate(None, two, max_gen_len=20, use_sampling=False, cfg_coef=3.0)
        out["continued"] = lm.generate(out["greedy"][..., :6], two, max_gen_len=20, use_sampling=False,
                                       cfg_coef=3.0)
        for name, kwargs in (("top_k", {"top_k": 8}), ("top_p", {"top_p": 0.9, "top_k": 0})):
            torch.manual_seed(seed + 1)
            out[name] = lm.generate(None, two, max_gen_len=20, use_sampling=True, temp=1.0, cfg_coef=2.5,
                                    **kwargs)
        out["decode_codes"] = torch.randint(0, codec.cardinality, (2, codec.num_codebooks, 15), generator=gen)
        out["wav"] = codec.decode(out["decode_codes"])
        out["wav_in"] = 0.3 * torch.randn(1, 1, 4000, generator=gen)
        out["encoded"] = codec.encode(out["wav_in"])[0]
    return out


def main(out_dir: str, smoke_dir: str) -> None:
    install_stubs()
    torch.set_num_threads(1)
    out = Path(out_dir)
    build_toy(out / "checkpoint")
    result = {"toy": reference_outputs(out / "checkpoint", seed=1),
              "smoke": reference_outputs(Path(smoke_dir), seed=2)}
    torch.save(result, out / "reference.pt")


if __name__ == "__main__":
    main(*sys.argv[1:3])
