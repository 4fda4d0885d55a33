"""Write AudioGen checkpoints in the published audiocraft layout from transformers modules.

The inverse of `audiogen_convert`: used to build the tiny random smoke checkpoint (and a tiny T5)
without audiocraft. The tests load what this writes with audiocraft's own loaders.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

AUDIOCRAFT_VERSION = "1.3.0"
# audiocraft's T5Conditioner only accepts these names; the width must match the name's.
T5_NAME, T5_DIM = "t5-small", 512


def lm_xp_cfg(dim: int, num_heads: int, num_layers: int, n_q: int, card: int, hidden_scale: int,
              t5_name: str = T5_NAME, duration: float = 10.0) -> dict[str, Any]:
    """The parts of AudioGen's Hydra config that audiocraft's `load_lm_model` reads."""
    return {
        "device": "cpu", "dtype": "float32", "sample_rate": 16000, "channels": 1,
        "lm_model": "transformer_lm",
        "dataset": {"segment_duration": duration},
        "codebooks_pattern": {"modeling": "delay",
                              "delay": {"delays": list(range(n_q)), "flatten_first": 0, "empty_initial": 0}},
        "transformer_lm": {
            "dim": dim, "num_heads": num_heads, "num_layers": num_layers, "hidden_scale": hidden_scale,
            "n_q": n_q, "card": card, "dropout": 0.0, "emb_lr": None, "activation": "gelu",
            "norm_first": True, "bias_ff": False, "bias_attn": False, "bias_proj": False,
            "past_context": None, "causal": True, "custom": False, "memory_efficient": True,
            "attention_as_float32": False, "layer_scale": None, "positional_embedding": "sin",
            "xpos": False, "checkpointing": "none", "weight_init": "gaussian", "depthwise_init": "current",
            "zero_bias_init": True, "norm": "layer_norm", "cross_attention": False, "qk_layer_norm": False,
            "qk_layer_norm_cross": False, "attention_dropout": None, "kv_repeat": 1, "two_step_cfg": False,
        },
        "classifier_free_guidance": {"training_dropout": 0.1, "inference_coef": 3.0},
        "attribute_dropout": {},
        "fuser": {"cross_attention_pos_emb": False, "cross_attention_pos_emb_scale": 1,
                  "sum": [], "prepend": [], "cross": ["description"], "input_interpolate": []},
        "conditioners": {"description": {"model": "t5", "t5": {
            "name": t5_name, "finetune": False, "word_dropout": 0.0, "normalize_text": False}}},
    }


def codec_xp_cfg(n_filters: int, dimension: int, ratios: list[int], lstm: int, n_q: int, bins: int,
                 sample_rate: int = 16000) -> dict[str, Any]:
    """The parts of the EnCodec Hydra config that audiocraft's `load_compression_model` reads."""
    return {
        "device": "cpu", "sample_rate": sample_rate, "channels": 1, "compression_model": "encodec",
        "encodec": {"autoencoder": "seanet", "quantizer": "rvq", "sample_rate": "${sample_rate}",
                    "channels": "${channels}", "causal": False, "renormalize": False},
        "seanet": {
            "dimension": dimension, "channels": "${channels}", "causal": "${encodec.causal}",
            "n_filters": n_filters, "n_residual_layers": 1, "ratios": list(ratios), "activation": "ELU",
            "activation_params": {"alpha": 1.0}, "norm": "weight_norm", "norm_params": {}, "kernel_size": 7,
            "residual_kernel_size": 3, "last_kernel_size": 7, "dilation_base": 2, "pad_mode": "constant",
            "true_skip": True, "compress": 2, "lstm": lstm, "disable_norm_outer_blocks": 0,
            "decoder": {"trim_right_ratio": 1.0, "final_activation": None, "final_activation_params": None},
            "encoder": {},
        },
        "rvq": {"n_q": n_q, "q_dropout": False, "bins": bins, "decay": 0.99, "kmeans_init": True,
                "kmeans_iters": 50, "threshold_ema_dead_code": 2, "orthogonal_reg_weight": 0.0,
                "orthogonal_reg_active_codes_only": False},
    }


# 1. transformers -> audiocraft state dicts --------------------------------------------------------


def lm_state(lm: Any, text_proj: Any, cond: str = "description") -> dict[str, Any]:
    """An audiocraft `LMModel` state dict from a `MusicgenForCausalLM` and the T5 projection."""
    import torch

    hf = lm.state_dict()
    out: dict[str, Any] = {f"condition_provider.conditioners.{cond}.output_proj.{k}": v
                           for k, v in text_proj.state_dict().items()}
    for i in range(lm.config.num_hidden_layers):
        src, dst = f"model.decoder.layers.{i}.", f"transformer.layers.{i}."
        for hf_name, ac_name in (("self_attn", "self_attn"), ("encoder_attn", "cross_attention")):
            out[f"{dst}{ac_name}.in_proj_weight"] = torch.cat([hf.pop(f"{src}{hf_name}.{p}_proj.weight") for p in "qkv"])
            out[f"{dst}{ac_name}.out_proj.weight"] = hf.pop(f"{src}{hf_name}.out_proj.weight")
        for hf_name, ac_name in (("self_attn_layer_norm", "norm1"), ("encoder_attn_layer_norm", "norm_cross"),
                                 ("final_layer_norm", "norm2")):
            for p in ("weight", "bias"):
                out[f"{dst}{ac_name}.{p}"] = hf.pop(f"{src}{hf_name}.{p}")
        out[f"{dst}linear1.weight"] = hf.pop(f"{src}fc1.weight")
        out[f"{dst}linear2.weight"] = hf.pop(f"{src}fc2.weight")
    for k in range(lm.config.num_codebooks):
        out[f"emb.{k}.weight"] = hf.pop(f"model.decoder.embed_tokens.{k}.weight")
        out[f"linears.{k}.weight"] = hf.pop(f"lm_heads.{k}.weight")
    for p in ("weight", "bias"):
        out[f"out_norm.{p}"] = hf.pop(f"model.decoder.layer_norm.{p}")
    if hf:
        raise ValueError(f"unmapped MusicGen weights: {sorted(hf)[:4]}")
    return {k: v.detach().clone().contiguous() for k, v in out.items()}


def codec_state(codec: Any) -> dict[str, Any]:
    """An audiocraft `EncodecModel` state dict from a transformers `EncodecModel`."""
    from transformers.models.encodec.modeling_encodec import EncodecConvTranspose1d

    transposed = {name for name, m in codec.named_modules() if isinstance(m, EncodecConvTranspose1d)}
    out = {}
    for key, value in codec.state_dict().items():
        prefix = key.split(".conv.")[0]
        kind = "convtr" if prefix in transposed else "conv"
        new = re.sub(r"\.conv\.parametrizations\.weight\.original0$", f".{kind}.{kind}.weight_g", key)
        new = re.sub(r"\.conv\.parametrizations\.weight\.original1$", f".{kind}.{kind}.weight_v", new)
        new = re.sub(r"\.conv\.bias$", f".{kind}.{kind}.bias", new)
        new = re.sub(r"^(encoder|decoder)\.layers\.", r"\1.model.", new)
        new = re.sub(r"^quantizer\.layers\.(\d+)\.codebook\.", r"quantizer.vq.layers.\1._codebook.", new)
        out[new] = value.detach().clone().contiguous()
    return out


def save_package(path: Path, state: dict[str, Any], cfg: dict[str, Any]) -> None:
    """torch.save a package the way audiocraft's `export_lm` / `export_encodec` do."""
    import torch
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    pkg = {"best_state": state, "xp.cfg": yaml.safe_dump(cfg, sort_keys=False),
           "version": AUDIOCRAFT_VERSION, "exported": True}
    torch.save(pkg, str(path))


# 2. the tiny random smoke model ---------------------------------------------------------------------


def tiny_t5(out: Path, seed: int = 0) -> Path:
    """A 1-layer random T5 encoder (width 512, as audiocraft's 't5-small' requires) + a char tokenizer."""
    import torch
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    pieces = ["<pad>", "</s>", "<unk>", "▁"] + [f"▁{c}" for c in string.ascii_lowercase] + list(
        string.ascii_lowercase + string.digits + string.punctuation)
    vocab = [(p, 0.0 if i < 3 else -float(i)) for i, p in enumerate(pieces)]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=0)
    torch.manual_seed(seed)
    config = T5Config(vocab_size=len(pieces), d_model=T5_DIM, d_kv=16, d_ff=64, num_layers=1, num_heads=2,
                      relative_attention_num_buckets=8, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    T5EncoderModel(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def tiny_checkpoint(out: Path, seed: int = 0) -> Path:
    """A random AudioGen (LM 2x32, 4 codebooks of 32; EnCodec 16 kHz, hop 320) in the published layout."""
    import torch
    from transformers import EncodecModel, MusicgenForCausalLM

    from generators.audiogen_convert import codec_config, decoder_config, lm_settings

    torch.manual_seed(seed)
    lm_cfg = lm_xp_cfg(dim=32, num_heads=2, num_layers=2, n_q=4, card=32, hidden_scale=2)
    lm = MusicgenForCausalLM(decoder_config(lm_settings(lm_cfg))).eval()
    text_proj = torch.nn.Linear(T5_DIM, 32)
    codec_cfg = codec_xp_cfg(n_filters=4, dimension=16, ratios=[8, 5, 4, 2], lstm=1, n_q=4, bins=32)
    codec = EncodecModel(codec_config(codec_cfg)).eval()
    for layer in codec.quantizer.layers:  # random codebooks, marked initialised (k-means ran)
        layer.codebook.embed.normal_()
        layer.codebook.embed_avg.copy_(layer.codebook.embed)
        layer.codebook.inited.fill_(1.0)
    save_package(out / "state_dict.bin", lm_state(lm, text_proj), lm_cfg)
    save_package(out / "compression_state_dict.bin", codec_state(codec), codec_cfg)
    return out
