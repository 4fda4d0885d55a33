"""One-shot GPU acceptance check for the diffusers path: writes one JSON of measured figures.

    python bench/gpu_check.py --out gpu_check.json           # one 80 GB GPU, at most ~8 minutes
    python bench/gpu_check.py --tiny --out tiny.json         # CPU, tiny models, seconds (the test suite runs it)

Full mode builds a Wan2.1-T2V-1.3B-shaped pipeline from the published configs (transformer, VAE,
umT5-XXL text encoder) with random weights (no hub needed), saves it, and loads it through briefcut's
own `from_pretrained` path. Sections, most important first, each isolated (an error is recorded in
the JSON and the script goes on; the JSON is rewritten after every section, so a killed run keeps
what it measured), under an overall time guard:

1. bare: a plain `WanPipeline` call, the reference output and speed;
2. plans: per memory plan: s/step, peak VRAM, max |diff| to the bare call (same args, seed); and under
   model offload a repeated prompt: prompt-cache hits, the text encoder not run again;
3. oom_fallback: an out-of-memory error forced inside the denoiser: the plan it lands on, its diff;
4. fp8_step_cache: fp8 layerwise casting + first-block cache: s/step, peak, bytes, blocks skipped, diff;
5. lora_fp8: a random rank-16 LoRA on the fp8 transformer: renders, differs from no LoRA;
6. vae_decode: per family, its VAE at its native latent size: peak VRAM and time, untiled vs tiled.
"""

from __future__ import annotations

import _thread
import argparse
import gc
import json
import os
import platform
import sys
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GiB = 1024**3
PROMPT, NEGATIVE = "a red sports car drives along a coast road at sunset", "blurry, low quality"
# Wan2.1-T2V-1.3B-Diffusers, as published: transformer/config.json, vae/config.json (AutoencoderKLWan's
# defaults are that config), text_encoder/config.json (umT5-XXL), scheduler (UniPC, flow shift 3.0).
WAN13B_TRANSFORMER = dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16,
                          out_channels=16, text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30,
                          cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)
UMT5_XXL = dict(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                relative_attention_num_buckets=32, relative_attention_max_distance=128,
                feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6, tie_word_embeddings=False)


class Timeout(Exception):
    """A section ran past its share of the time budget."""


class Check:
    """Sections run one by one, each isolated and timed; the JSON is rewritten after each."""

    def __init__(self, out: Path, budget_s: float, tiny: bool) -> None:
        self.out, self.tiny = out, tiny
        self.deadline = time.monotonic() + budget_s
        self.result: dict[str, Any] = {"mode": "tiny" if tiny else "full", "budget_s": budget_s,
                                       "environment": environment(), "sections": {}}
        self.write()

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def section(self, name: str, fn: Callable[[], dict[str, Any]], needs_s: float) -> dict[str, Any]:
        """Run `fn` if `needs_s` seconds are left; record its result, or its error, and go on."""
        entry: dict[str, Any]
        started = time.monotonic()
        if self.left() < needs_s:
            entry = {"skipped": f"time guard: {self.left():.0f} s left, the section needs ~{needs_s:.0f} s"}
        else:
            try:
                with watchdog(self.left()):
                    entry = {"ok": True, **fn()}
            except Timeout:
                entry = {"ok": False, "error": "Timeout: the overall time budget ran out during this section"}
            except Exception as exc:  # recorded; the next section runs
                entry = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:500]}",
                         "traceback": traceback.format_exc(limit=6)[-2000:]}
        entry["seconds"] = round(time.monotonic() - started, 2)
        self.result["sections"][name] = entry
        release()
        self.write()
        print(f"[gpu_check] {name}: {'ok' if entry.get('ok') else entry.get('skipped') or entry.get('error')} "
              f"({entry['seconds']} s)", file=sys.stderr, flush=True)
        return entry

    def write(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_name(f".{self.out.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.result, indent=2, default=str))
        tmp.replace(self.out)


@contextmanager
def watchdog(seconds: float):
    """Interrupt the main thread when `seconds` pass (a thread, so pytest's own alarms are left alone)."""
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        _thread.interrupt_main()

    timer = threading.Timer(max(1.0, seconds), fire)
    timer.start()
    try:
        yield
    except KeyboardInterrupt:
        if fired.is_set():
            raise Timeout() from None
        raise
    finally:
        timer.cancel()


def environment() -> dict[str, Any]:
    import diffusers
    import torch
    import transformers

    env = {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__,
           "transformers": transformers.__version__, "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        env.update(gpu=torch.cuda.get_device_name(), vram_total_gib=round(total / GiB, 2),
                   vram_free_gib=round(free / GiB, 2))
    return env


def release() -> None:
    """Free what a finished section held on the GPU (nothing to do on the CPU)."""
    import torch

    if torch.cuda.is_available():
        gc.collect()
        torch.cuda.empty_cache()


def peak_gib() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / GiB, 3) if torch.cuda.is_available() else None


def reset_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


# 1. The model and the render ------------------------------------------------------------------------


def build_wan13b(folder: Path) -> Path:
    """Random weights in Wan2.1-T2V-1.3B's published shapes, saved like the Diffusers repo (VAE in fp32)."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import T5Config, UMT5EncoderModel

    from generators.tiny import t5_tokenizer

    if (folder / "model_index.json").exists():
        return folder
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    with torch.device(device):  # initialise on the GPU: seconds instead of minutes for 7B random values
        torch.set_default_dtype(torch.bfloat16)
        try:
            transformer = WanTransformer3DModel(**WAN13B_TRANSFORMER)
            text = UMT5EncoderModel(T5Config(**UMT5_XXL))
        finally:
            torch.set_default_dtype(torch.float32)
        vae = AutoencoderKLWan()  # fp32, as the published VAE
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    pipe = WanPipeline(tokenizer=t5_tokenizer(512), text_encoder=text, vae=vae, transformer=transformer,
                       scheduler=scheduler)
    pipe.save_pretrained(str(folder))
    return folder


def build_lora(folder: Path, base: Path, rank: int) -> Path:
    """A random LoRA on the transformer's attention projections, saved like a trained one."""
    import torch
    from diffusers import WanPipeline, WanTransformer3DModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    if (folder / "pytorch_lora_weights.safetensors").exists():
        return folder
    transformer = WanTransformer3DModel.from_pretrained(str(base), subfolder="transformer")
    torch.manual_seed(1)
    transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                       target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.no_grad():
        for name, p in transformer.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.02)
    WanPipeline.save_lora_weights(str(folder), transformer_lora_layers=get_peft_model_state_dict(transformer))
    return folder


class Setup:
    """What every section shares: the model folder, the request, the reference frames."""

    def __init__(self, args: argparse.Namespace, left: Callable[[], float]) -> None:
        import torch

        self.left = left  # seconds left in the overall budget
        self.tiny, self.cache = args.tiny, Path(args.cache)
        self.device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
        self.width, self.height, self.frames, self.steps = ((32, 32, 5, 2) if args.tiny else
                                                           (832, 480, args.frames, args.steps))
        self.model: Path | None = None
        self.reference: Any = None

    def build(self) -> dict[str, Any]:
        if self.tiny:
            from generators.tiny import build_video

            self.model = build_video(self.cache, "wan")
        else:
            self.model = build_wan13b(self.cache / "wan2.1-1.3b-shaped")
        return {"model": str(self.model), "shape": "tiny" if self.tiny else "Wan2.1-T2V-1.3B published configs"}

    def options(self, **extra: Any) -> dict[str, Any]:
        return {"model": str(self.model), "steps": self.steps, "device": self.device, **extra}

    def request(self, seed: int = 0, **kw: Any) -> Any:
        from generators.base import ShotRequest

        return ShotRequest(prompt=PROMPT, negative_prompt=NEGATIVE, seconds=self.frames / 16, fps=16,
                           width=self.width, height=self.height, seed=seed, **kw)

    def backend(self, **options: Any) -> Any:
        """A loaded briefcut diffusers backend over the model, with these options."""
        from generators.base import VIDEO

        backend = VIDEO.create("diffusers", self.options(**options))
        backend.ensure_loaded()
        return backend

    def measure(self, backend: Any, seed: int = 0, **kw: Any) -> tuple[Any, dict[str, Any]]:
        """(frames, figures) of one render."""
        reset_peak()
        frames, meta = backend.clip(self.request(seed, **kw))
        return frames, figures(meta, backend.load_seconds, self.reference, frames)


def figures(meta: dict[str, Any], load_s: float, reference: Any, frames: Any) -> dict[str, Any]:
    import numpy as np

    t = meta["timings"]
    return {"plan": meta["memory_plan"], "fallbacks": meta["memory_fallbacks"], "load_s": round(load_s, 2),
            "render_s": t["render_s"], "s_per_step": t["s_per_step"],
            "peak_vram_gib": round(meta["peak_vram_bytes"] / GiB, 3) if "peak_vram_bytes" in meta else None,
            "vae_tiling": meta["parameters"]["vae_tiling"], "text_cache": meta["text_cache"],
            "max_abs_diff_vs_bare": None if reference is None else float(np.abs(frames - reference).max())}


# 2. Sections ------------------------------------------------------------------------------------


def bare(s: Setup) -> dict[str, Any]:
    """A plain WanPipeline call with the same arguments and seed: the reference."""
    import numpy as np
    import torch
    from diffusers import WanPipeline

    from generators.hub import dtype_kwargs

    cuda = s.device.startswith("cuda")
    dtypes = {"default": torch.bfloat16, "vae": torch.float32} if cuda else {"default": torch.float32}
    pipe = WanPipeline.from_pretrained(str(s.model), **dtype_kwargs("diffusers", dtypes)).to(s.device)
    pipe.set_progress_bar_config(disable=True)
    reset_peak()
    started = time.perf_counter()
    out = pipe(prompt=PROMPT, negative_prompt=NEGATIVE, height=s.height, width=s.width, num_frames=s.frames,
               num_inference_steps=s.steps, guidance_scale=5.0, output_type="np",
               generator=torch.Generator("cpu").manual_seed(0))
    seconds = time.perf_counter() - started
    s.reference = np.asarray(out.frames[0], dtype=np.float32)
    return {"render_s": round(seconds, 2), "s_per_step": round(seconds / s.steps, 3), "peak_vram_gib": peak_gib(),
            "frames": list(s.reference.shape)}


def plans(s: Setup) -> dict[str, Any]:
    """Every memory plan once; under model offload a second take of the same prompt, which must find
    its embeddings in the prompt cache (the text encoder neither runs nor moves to the GPU)."""
    from generators.memory import PLANS

    out: dict[str, Any] = {}
    cache: dict[str, Any] = {}
    for plan in PLANS:
        try:
            backend = s.backend(memory_plan=plan)
            _, out[plan] = s.measure(backend)
            if plan == "model_offload":
                cache = text_cache(backend, s, out[plan])
            del backend
        except Exception as exc:  # one plan failing does not hide the others
            out[plan] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        release()
    return {"by_plan": out, "text_cache": cache}


def text_cache(backend: Any, s: Setup, first: dict[str, Any]) -> dict[str, Any]:
    calls = [0]
    backend.pipe.text_encoder.register_forward_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    _, second = s.measure(backend, seed=1)
    return {"first_render_s": first["render_s"], "second_render_s": second["render_s"],
            "text_encoder_calls_second": calls[0], "stats": second["text_cache"]}


def oom_fallback(s: Setup) -> dict[str, Any]:
    """torch.OutOfMemoryError raised inside the transformer while the plan is `none`."""
    import torch
    from diffusers import WanTransformer3DModel

    backend = s.backend(memory_plan="none")

    def hook(module: Any, args: Any) -> None:
        if isinstance(module, WanTransformer3DModel) and backend.plan == "none":
            raise torch.OutOfMemoryError("out of memory (forced by gpu_check)")

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    try:
        _, out = s.measure(backend)
    finally:
        handle.remove()
    return out


def fp8_step_cache(s: Setup) -> dict[str, Any]:
    from generators.memory import module_bytes

    backend = s.backend(memory_plan="none", fp8=True, step_cache=True)
    computed, calls = [0], [0]
    backend.pipe.transformer.blocks[-1].ffn.register_forward_hook(lambda *a: computed.__setitem__(0, computed[0] + 1))
    backend.pipe.transformer.register_forward_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    _, out = s.measure(backend)
    return {**out, "transformer_bytes": module_bytes(backend.pipe.transformer),
            "transformer_calls": calls[0], "last_block_computed": computed[0]}


def lora_fp8(s: Setup) -> dict[str, Any]:
    import numpy as np

    lora = build_lora(s.cache / "lora-rank16", s.model, rank=4 if s.tiny else 16)
    backend = s.backend(memory_plan="none", fp8=True)
    plain, _ = backend.clip(s.request())
    styled, out = s.measure(backend, lora=[{"path_or_id": str(lora), "weight": 1.0}])
    adapter = backend.pipe.transformer.blocks[0].attn1.to_q.lora_A
    return {**out, "max_abs_diff_vs_no_lora": float(np.abs(styled - plain).max()),
            "adapter_dtype": str(next(iter(adapter.values())).weight.dtype)}


# 3. VAE decode per family -------------------------------------------------------------------------

# Family -> (VAE class, dtype on CUDA). The full check builds each with diffusers' class defaults (the
# released VAE's configuration; AnimateDiff: Stable Diffusion 1.5's VAE config).
FAMILY_VAES = {"wan": "float32", "ltx": "bfloat16", "cogvideox": "bfloat16", "mochi": "bfloat16",
               "hunyuan": "float16", "animatediff": "float16"}
SD15_VAE = dict(block_out_channels=[128, 256, 512, 512], layers_per_block=2, latent_channels=4, sample_size=512,
                down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)


def family_vae(family: str, tiny: bool) -> Any:
    import diffusers

    if tiny:
        from generators.tiny import video_vae

        return video_vae(family)
    cls = {"wan": "AutoencoderKLWan", "ltx": "AutoencoderKLLTXVideo", "cogvideox": "AutoencoderKLCogVideoX",
           "mochi": "AutoencoderKLMochi", "hunyuan": "AutoencoderKLHunyuanVideo", "animatediff": "AutoencoderKL"}
    return getattr(diffusers, cls[family])(**(SD15_VAE if family == "animatediff" else {}))


def latent_shape(vae: Any, family: str, frames: int, width: int, height: int) -> tuple[int, ...]:
    """The latent a family's pipeline hands its VAE for `frames` frames at width x height."""
    cfg = vae.config
    channels = cfg.get("latent_channels") or cfg.get("z_dim")
    spatial = (cfg.get("spatial_compression_ratio") or cfg.get("scale_factor_spatial")
               or getattr(vae, "spatial_compression_ratio", None) or 2 ** (len(cfg["block_out_channels"]) - 1))
    if family == "animatediff":  # a 2D VAE: the frames are the batch
        return (frames, channels, height // spatial, width // spatial)
    temporal = (cfg.get("temporal_compression_ratio") or cfg.get("scale_factor_temporal")
                or getattr(vae, "temporal_compression_ratio", None) or 1)
    return (1, channels, (frames - 1) // int(temporal) + 1, height // spatial, width // spatial)


def vae_decode(s: Setup) -> dict[str, Any]:
    import torch

    from generators.diffusers_setup import set_vae_tiling
    from generators.families import get_family

    out: dict[str, Any] = {}
    for family, dtype_name in FAMILY_VAES.items():
        fam = get_family(family)
        width, height = (32, 32) if s.tiny else fam.native_size
        frames = 5 if s.tiny else (fam.fixed_frames or fam.frames_at_most(min(fam.max_frames, 5 * fam.fps + 1)))
        dtype = getattr(torch, dtype_name) if s.device.startswith("cuda") else torch.float32
        try:
            vae = family_vae(family, s.tiny).to(s.device, dtype).eval()
            shape = latent_shape(vae, family, frames, width, height)
            entry: dict[str, Any] = {"frames": frames, "size": [width, height], "latent": list(shape),
                                     "dtype": dtype_name}
            for tiled in (False, True):
                if s.left() < 20:
                    entry["tiled" if tiled else "untiled"] = {"skipped": "time guard"}
                    continue
                set_vae_tiling(type("P", (), {"vae": vae})(), tiled)
                entry["tiled" if tiled else "untiled"] = decode_once(vae, shape, dtype, s.device)
            out[family] = entry
            del vae
        except Exception as exc:
            out[family] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        release()
    return {"by_family": out}


def decode_once(vae: Any, shape: tuple[int, ...], dtype: Any, device: str) -> dict[str, Any]:
    import torch

    from generators.memory import is_oom

    latents = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(device, dtype)
    reset_peak()
    started = time.perf_counter()
    try:
        with torch.no_grad():
            vae.decode(latents)
    except Exception as exc:
        if not is_oom(exc):
            raise
        return {"oom": True, "peak_vram_gib": peak_gib(), "seconds": round(time.perf_counter() - started, 2)}
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return {"oom": False, "peak_vram_gib": peak_gib(), "seconds": round(time.perf_counter() - started, 2)}


# 4. Main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random models on the CPU (seconds)")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "briefcut-bench" / "gpu-check")
    parser.add_argument("--budget-s", type=float, default=None, help="overall time guard [full 450, tiny 120]")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps (full mode)")
    parser.add_argument("--frames", type=int, default=81, help="frames, 4k+1 (full mode)")
    args = parser.parse_args(argv)
    check = Check(args.out, args.budget_s or (120.0 if args.tiny else 450.0), args.tiny)
    s = Setup(args, check.left)
    tiny = args.tiny
    if not check.section("build", s.build, needs_s=5 if tiny else 120).get("ok"):
        return check.result
    check.section("bare", lambda: bare(s), needs_s=1 if tiny else 40)
    check.section("plans", lambda: plans(s), needs_s=2 if tiny else 180)
    check.section("oom_fallback", lambda: oom_fallback(s), needs_s=1 if tiny else 40)
    check.section("fp8_step_cache", lambda: fp8_step_cache(s), needs_s=1 if tiny else 45)
    check.section("lora_fp8", lambda: lora_fp8(s), needs_s=1 if tiny else 45)
    check.section("vae_decode", lambda: vae_decode(s), needs_s=2 if tiny else 30)
    check.result["total_s"] = round(check.result["budget_s"] - check.left(), 1)
    check.write()
    return check.result


if __name__ == "__main__":
    import torch

    if not torch.cuda.is_available():
        torch.set_num_threads(min(4, os.cpu_count() or 1))
    result = main()
    failed = [k for k, v in result["sections"].items() if not v.get("ok")]
    print(json.dumps({"sections": len(result["sections"]), "not_ok": failed}), flush=True)
