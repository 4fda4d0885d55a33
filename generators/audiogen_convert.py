"""Convert a published AudioGen checkpoint (audiocraft layout) to transformers' MusicGen/EnCodec classes.

The published layout (e.g. `facebook/audiogen-medium`) is two torch pickles, as audiocraft's
`loaders.load_lm_model` / `load_compression_model` read them:

- `state_dict.bin`: {"best_state": LM state dict, "xp.cfg": the Hydra config as YAML, ...}
- `compression_state_dict.bin`: the same for the 16 kHz EnCodec compression model.

The LM maps onto `MusicgenForCausalLM` (pre-norm decoder, cross-attention, per-codebook embeddings
and heads, no biases) plus the T5 conditioner's output projection; the compression model maps onto
`EncodecModel` with audiocraft's settings (constant padding, identity skips). Conversion runs once per
checkpoint content: the result lives in `<cache_dir>/<sha256[:16]>/` and is reused after that.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.atomic import temp_path, write_text
from generators.errors import ModelUnavailable

LM_FILE = "state_dict.bin"
COMPRESSION_FILE = "compression_state_dict.bin"
MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_INTERPOLATION = re.compile(r"^\$\{([^}]+)\}$")


class UnsupportedCheckpoint(ModelUnavailable):
    """The checkpoint uses an audiocraft feature that the converter does not map (named in the message)."""


@dataclass(frozen=True)
class Converted:
    """Where a converted checkpoint lives, and whether this call reused an earlier conversion."""

    path: Path
    sha256: str
    reused: bool

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / MANIFEST).read_text())


# 1. Reading the published files ---------------------------------------------------------------


def read_package(path: Path) -> dict[str, Any]:
    """Load one audiocraft package without running code from it (`generators.safe_pickle`): tensors,
    strings and flags, and an `xp.cfg` that may be YAML text or a pickled omegaconf DictConfig."""
    import pickle

    from generators.safe_pickle import load_checkpoint

    try:
        pkg = load_checkpoint(Path(path))
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailable(f"audiogen: refusing to load {path}: {reason[:200]}") from None
    if not isinstance(pkg, dict) or "best_state" not in pkg:
        raise ModelUnavailable(f"audiogen: {path} is not an audiocraft package (no 'best_state')")
    return pkg


def package_config(pkg: dict[str, Any]) -> dict[str, Any]:
    """The package's `xp.cfg` YAML as a plain dict with `${a.b}` interpolations resolved."""
    import yaml

    raw = pkg.get("xp.cfg")
    cfg = yaml.safe_load(raw) if isinstance(raw, str) else raw
    if not isinstance(cfg, dict):
        raise UnsupportedCheckpoint(f"audiogen: the package's xp.cfg is {type(raw).__name__}, not a config")
    return resolve(cfg, cfg)


def resolve(node: Any, root: dict[str, Any]) -> Any:
    """`node` with whole-string `${a.b}` interpolations looked up in `root` (OmegaConf's simple case)."""
    if isinstance(node, dict):
        return {k: resolve(v, root) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, root) for v in node]
    if isinstance(node, str) and (match := _INTERPOLATION.match(node)):
        value: Any = root
        for part in match.group(1).split("."):
            value = value[part]
        return resolve(value, root)
    return node


def _get(cfg: dict[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


# 2. The language model ------------------------------------------------------------------------


def lm_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """Check the LM config is one this converter maps, and return what the runtime needs."""
    lm = cfg["transformer_lm"]
    cond = _single_t5_conditioner(cfg)
    checks = {
        "lm_model must be transformer_lm": cfg.get("lm_model") == "transformer_lm",
        "codebooks_pattern must be delay": _get(cfg, "codebooks_pattern.modeling") == "delay",
        "delays must be 0..n_q-1": _get(cfg, "codebooks_pattern.delay.delays") == list(range(lm["n_q"])),
        "flatten_first/empty_initial must be 0": not _get(cfg, "codebooks_pattern.delay.flatten_first", 0)
        and not _get(cfg, "codebooks_pattern.delay.empty_initial", 0),
        "norm_first must be true": lm.get("norm_first") is True,
        "biases must be off": not any(lm.get(k, True) for k in ("bias_ff", "bias_attn", "bias_proj")),
        "positional_embedding must be sin": lm.get("positional_embedding", "sin") == "sin",
        "layer_scale must be null": lm.get("layer_scale") is None,
        "qk_layer_norm must be off": not lm.get("qk_layer_norm") and not lm.get("qk_layer_norm_cross"),
        "kv_repeat must be 1": lm.get("kv_repeat", 1) == 1,
        "norm must be layer_norm": lm.get("norm", "layer_norm") == "layer_norm",
        "activation must be gelu or relu": lm.get("activation", "gelu") in ("gelu", "relu"),
        "fuser must cross-attend the description only": _get(cfg, "fuser.cross") == [cond]
        and not any(_get(cfg, f"fuser.{k}") for k in ("sum", "prepend", "input_interpolate")),
        "cross_attention_pos_emb must be off": not _get(cfg, "fuser.cross_attention_pos_emb", False),
        "past_context must be null": lm.get("past_context") is None,
        "t5.normalize_text must be off": not _get(cfg, f"conditioners.{cond}.t5.normalize_text", False),
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise UnsupportedCheckpoint(f"audiogen: unsupported checkpoint config: {'; '.join(failed)}")
    t5 = cfg["conditioners"][cond]["t5"]
    return {
        "dim": lm["dim"],
        "num_heads": lm["num_heads"],
        "num_layers": lm["num_layers"],
        "ffn_dim": int(lm.get("hidden_scale", 4) * lm["dim"]),
        "n_q": lm["n_q"],
        "card": lm["card"],
        "activation": lm.get("activation", "gelu"),
        "max_period": float(lm.get("max_period", 10_000)),
        "positional_scale": float(lm.get("positional_scale", 1.0)),
        "condition": cond,
        "t5_name": t5["name"],
        "cfg_coef": float(_get(cfg, "classifier_free_guidance.inference_coef", 3.0)),
        "max_duration": float(_get(cfg, "dataset.segment_duration", 10.0)),
        "sample_rate": int(cfg.get("sample_rate", 16000)),
    }


def _single_t5_conditioner(cfg: dict[str, Any]) -> str:
    conditioners = {k: v for k, v in (cfg.get("conditioners") or {}).items() if k != "args"}
    if len(conditioners) != 1:
        raise UnsupportedCheckpoint(f"audiogen: expected one text conditioner, got {sorted(conditioners)}")
    (name, spec), = conditioners.items()
    if spec.get("model") != "t5":
        raise UnsupportedCheckpoint(f"audiogen: conditioner '{name}' is '{spec.get('model')}', not t5")
    return name


def lm_key(key: str, cond: str) -> str | list[str]:
    """The transformers key(s) for one audiocraft LM key (a packed in_proj maps to q/k/v)."""
    rules = [
        (r"^emb\.(\d+)\.weight$", r"model.decoder.embed_tokens.\1.weight"),
        (r"^linears\.(\d+)\.weight$", r"lm_heads.\1.weight"),
        (r"^out_norm\.(weight|bias)$", r"model.decoder.layer_norm.\1"),
        (rf"^condition_provider\.conditioners\.{re.escape(cond)}\.output_proj\.(weight|bias)$", r"text_proj.\1"),
        (r"^transformer\.layers\.(\d+)\.norm1\.", r"model.decoder.layers.\1.self_attn_layer_norm."),
        (r"^transformer\.layers\.(\d+)\.norm_cross\.", r"model.decoder.layers.\1.encoder_attn_layer_norm."),
        (r"^transformer\.layers\.(\d+)\.norm2\.", r"model.decoder.layers.\1.final_layer_norm."),
        (r"^transformer\.layers\.(\d+)\.linear1\.weight$", r"model.decoder.layers.\1.fc1.weight"),
        (r"^transformer\.layers\.(\d+)\.linear2\.weight$", r"model.decoder.layers.\1.fc2.weight"),
        (r"^transformer\.layers\.(\d+)\.self_attn\.out_proj\.weight$", r"model.decoder.layers.\1.self_attn.out_proj.weight"),
        (r"^transformer\.layers\.(\d+)\.cross_attention\.out_proj\.weight$",
         r"model.decoder.layers.\1.encoder_attn.out_proj.weight"),
    ]
    for pattern, target in rules:
        if re.match(pattern, key):
            return re.sub(pattern, target, key)
    packed = re.match(r"^transformer\.layers\.(\d+)\.(self_attn|cross_attention)\.in_proj_weight$", key)
    if packed:
        kind = "self_attn" if packed.group(2) == "self_attn" else "encoder_attn"
        return [f"model.decoder.layers.{packed.group(1)}.{kind}.{p}_proj.weight" for p in "qkv"]
    raise UnsupportedCheckpoint(f"audiogen: unexpected LM weight '{key}'")


def convert_lm_state(state: dict[str, Any], cond: str) -> dict[str, Any]:
    """Rename (and split packed q/k/v of) an audiocraft LM state dict into transformers' names."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        target = lm_key(key, cond)
        if isinstance(target, list):
            for name, chunk in zip(target, value.chunk(3, dim=0), strict=True):
                out[name] = chunk.contiguous()
        else:
            out[target] = value
    return out


def decoder_config(settings: dict[str, Any]) -> Any:
    """The `MusicgenDecoderConfig` equivalent of an AudioGen LM."""
    from transformers import MusicgenDecoderConfig

    return MusicgenDecoderConfig(
        vocab_size=settings["card"],
        # Generation runs in windows of at most max_duration seconds (~500 steps at 50 Hz).
        max_position_embeddings=4096,
        num_hidden_layers=settings["num_layers"],
        ffn_dim=settings["ffn_dim"],
        num_attention_heads=settings["num_heads"],
        hidden_size=settings["dim"],
        activation_function=settings["activation"],
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        scale_embedding=False,
        num_codebooks=settings["n_q"],
        pad_token_id=settings["card"],
        bos_token_id=settings["card"],
        tie_word_embeddings=False,
    )


# 3. The compression model ---------------------------------------------------------------------

_CODEC_RULES = [
    (r"^(encoder|decoder)\.model\.", r"\1.layers."),
    (r"\.conv\.conv\.", ".conv."),
    (r"\.convtr\.convtr\.", ".conv."),
    (r"\.weight_g$", ".parametrizations.weight.original0"),
    (r"\.weight_v$", ".parametrizations.weight.original1"),
    (r"^quantizer\.vq\.layers\.(\d+)\._codebook\.", r"quantizer.layers.\1.codebook."),
]


def codec_key(key: str) -> str:
    """The transformers `EncodecModel` key for one audiocraft EnCodec key."""
    for pattern, target in _CODEC_RULES:
        key = re.sub(pattern, target, key)
    return key


def codec_config(cfg: dict[str, Any]) -> Any:
    """The `EncodecConfig` equivalent of an audiocraft EnCodec config (SEANet + RVQ)."""
    from transformers import EncodecConfig

    cfg = resolve(cfg, cfg)
    seanet, rvq, enc = cfg["seanet"], cfg["rvq"], cfg["encodec"]
    checks = {
        "compression_model must be encodec/seanet/rvq": cfg.get("compression_model") == "encodec"
        and enc.get("autoencoder") == "seanet" and enc.get("quantizer") == "rvq",
        "seanet.norm must be weight_norm": seanet.get("norm") == "weight_norm",
        "seanet.activation must be ELU(alpha=1)": seanet.get("activation") == "ELU"
        and float((seanet.get("activation_params") or {}).get("alpha", 1.0)) == 1.0,
        "decoder final_activation must be null": not _get(seanet, "decoder.final_activation"),
        "renormalize must be off": not enc.get("renormalize", False),
        "disable_norm_outer_blocks must be 0": not seanet.get("disable_norm_outer_blocks", 0),
        "encoder/decoder overrides must be trim_right_ratio only": set(seanet.get("encoder") or {}) == set()
        and set(seanet.get("decoder") or {}) <= {"trim_right_ratio", "final_activation", "final_activation_params"},
    }
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        raise UnsupportedCheckpoint(f"audiogen: unsupported compression config: {'; '.join(failed)}")
    frame_rate = enc["sample_rate"] / math.prod(seanet["ratios"])
    bits = math.log2(rvq["bins"])
    return EncodecConfig(
        sampling_rate=enc["sample_rate"],
        audio_channels=enc["channels"],
        normalize=False,
        hidden_size=seanet["dimension"],
        num_filters=seanet["n_filters"],
        num_residual_layers=seanet["n_residual_layers"],
        upsampling_ratios=list(seanet["ratios"]),
        norm_type="weight_norm",
        kernel_size=seanet["kernel_size"],
        last_kernel_size=seanet["last_kernel_size"],
        residual_kernel_size=seanet["residual_kernel_size"],
        dilation_growth_rate=seanet["dilation_base"],
        use_causal_conv=bool(seanet.get("causal", enc.get("causal", False))),
        pad_mode=seanet.get("pad_mode", "constant"),
        compress=seanet["compress"],
        num_lstm_layers=seanet["lstm"],
        trim_right_ratio=float(_get(seanet, "decoder.trim_right_ratio", 1.0)),
        codebook_size=rvq["bins"],
        codebook_dim=seanet["dimension"],
        use_conv_shortcut=not seanet.get("true_skip", True),
        # EncodecConfig derives n_q from a bandwidth; half a codebook of margin keeps the floor exact.
        target_bandwidths=[(rvq["n_q"] + 0.5) * frame_rate * bits / 1000],
    )


def build_codec(pkg: dict[str, Any]) -> Any:
    """An `EncodecModel` holding the package's weights (a `pretrained` reference loads that model)."""
    from transformers import EncodecModel

    if "pretrained" in pkg:
        return EncodecModel.from_pretrained(pkg["pretrained"]).eval()
    cfg = package_config(pkg)
    model = EncodecModel(codec_config(cfg)).eval()
    state = {codec_key(k): v for k, v in pkg["best_state"].items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise UnsupportedCheckpoint(
            f"audiogen: compression weights do not match EnCodec: missing {missing[:4]}, unexpected {unexpected[:4]}"
        )
    return model


# 4. Conversion with a content-addressed cache ---------------------------------------------------


def source_sha256(files: list[Path], cache_dir: Path) -> str:
    """sha256 over the source files' bytes; remembered per (path, size, mtime) so big files hash once."""
    memo_path = cache_dir / "hashes.json"
    memo = json.loads(memo_path.read_text()) if memo_path.exists() else {}
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if key not in memo:
            memo[key] = _file_sha256(path)
        digest.update(memo[key].encode())
    cache_dir.mkdir(parents=True, exist_ok=True)
    write_text(memo_path, json.dumps(memo, indent=1))
    return digest.hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 23):
            digest.update(chunk)
    return digest.hexdigest()


def convert_checkpoint(source: Path, cache_dir: Path) -> Converted:
    """Convert the checkpoint folder `source` once; later calls with the same bytes reuse the result."""
    files = [source / LM_FILE, source / COMPRESSION_FILE]
    sha = source_sha256(files, cache_dir)
    target = cache_dir / sha[:16]
    if (target / MANIFEST).exists():
        return Converted(target, sha, reused=True)
    tmp = temp_path(target, "")
    write_converted(files[0], files[1], tmp, sha)
    try:
        tmp.rename(target)
    except OSError:  # another process finished first: its result is the same bytes
        shutil.rmtree(tmp, ignore_errors=True)
    return Converted(target, sha, reused=False)


def write_converted(lm_file: Path, compression_file: Path, out: Path, sha: str) -> None:
    """Write the transformers-format model folders and a manifest into `out`."""
    from safetensors.torch import save_file
    from transformers import MusicgenForCausalLM

    # 1. the LM: decoder weights into MusicgenForCausalLM, the T5 projection beside it
    pkg = read_package(lm_file)
    settings = lm_settings(package_config(pkg))
    state = convert_lm_state(pkg["best_state"], settings["condition"])
    proj = {k.removeprefix("text_proj."): state.pop(k).contiguous() for k in list(state) if k.startswith("text_proj.")}
    lm = MusicgenForCausalLM(decoder_config(settings)).eval()
    missing, unexpected = lm.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("embed_positions.weights")]
    if missing or unexpected or set(proj) != {"weight", "bias"}:
        raise UnsupportedCheckpoint(
            f"audiogen: LM weights do not match MusicGen: missing {missing[:4]}, unexpected {unexpected[:4]}"
        )
    out.mkdir(parents=True)
    lm.save_pretrained(out / "lm")
    save_file(proj, str(out / "text_proj.safetensors"))
    # 2. the compression model
    codec_pkg = read_package(compression_file)
    codec = build_codec(codec_pkg)
    codec.save_pretrained(out / "codec")
    # 3. the manifest last: its presence marks a complete conversion
    manifest = {"format": FORMAT_VERSION, "sha256": sha, "settings": settings,
                "frame_rate": codec.config.frame_rate, "codec_sample_rate": codec.config.sampling_rate}
    write_text(out / MANIFEST, json.dumps(manifest, indent=1))

