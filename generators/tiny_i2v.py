"""Tiny random-weight keyframe (text-to-image / inpainting) and image-to-video pipelines for the smoke profile.

Like `generators.tiny`, each builder makes the real diffusers classes at toy size (the shapes of
diffusers' own fast tests) and saves them with `save_pretrained`; the backends load them through the
same `from_pretrained(path)` call as a hub id. Where a published model animates images with its text
pipeline's weights (LTX-Video, Wan2.2-TI2V-5B), the tiny one does too: one folder, loaded as either class.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from generators.tiny import clip_text_encoder, clip_tokenizer, save_once, t5_encoder, t5_tokenizer, video_vae

# 1. Keyframe (image) pipelines ------------------------------------------------------------------


def sdxl(inpaint: bool = True) -> Any:
    """SDXL (two CLIP text encoders); `inpaint`: the 9-channel UNet of SDXL inpainting 0.1, which sees the mask."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLInpaintPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=9 if inpaint else 4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4), use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=8, transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80, cross_attention_dim=64,  # 6 time ids x 8 + pooled 32
    )
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                       beta_schedule="scaled_linear", timestep_spacing="leading")
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                        sample_size=128)
    parts = dict(unet=unet, scheduler=scheduler, vae=vae, text_encoder=clip_text_encoder(),
                 tokenizer=clip_tokenizer(), text_encoder_2=clip_text_encoder(with_projection=True),
                 tokenizer_2=clip_tokenizer())
    if inpaint:
        return StableDiffusionXLInpaintPipeline(**parts, requires_aesthetics_score=False)
    return StableDiffusionXLPipeline(**parts)


def flux() -> Any:
    """FLUX.1 [schnell]-shaped text-to-image (no guidance embedding), used for keyframes as FluxInpaintPipeline."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(patch_size=1, in_channels=8, num_layers=1, num_single_layers=1,
                                         attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32,
                                         pooled_projection_dim=32, axes_dims_rope=[4, 4, 8], guidance_embeds=False)
    torch.manual_seed(0)
    vae = AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1,
                        latent_channels=2, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
                        shift_factor=0.0609, scaling_factor=1.5035)
    return FluxPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=clip_text_encoder(),
                        text_encoder_2=t5_encoder(), tokenizer=clip_tokenizer(), tokenizer_2=t5_tokenizer(),
                        transformer=transformer, vae=vae)


IMAGE_BUILDERS: dict[str, Callable[[], Any]] = {
    "sdxl-inpaint": lambda: sdxl(inpaint=True), "sdxl": lambda: sdxl(inpaint=False), "flux": flux,
}


def build_image(cache_dir: Path, name: str) -> Path:
    """Save the tiny keyframe pipeline `name` under `cache_dir`; returns its folder."""
    if name not in IMAGE_BUILDERS:
        raise KeyError(f"no tiny keyframe builder '{name}'; known: {', '.join(IMAGE_BUILDERS)}")
    return save_once(Path(cache_dir) / f"image-{name}", IMAGE_BUILDERS[name])


# 2. Image-to-video pipelines --------------------------------------------------------------------


def _wan_i2v_transformer(in_channels: int = 36, out_channels: int = 16, image_dim: int | None = None) -> Any:
    import torch
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=in_channels,
        out_channels=out_channels, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32, image_dim=image_dim,
    )


def wan_i2v() -> Any:
    """Wan 2.1 I2V: the first frame's latents and a mask beside the noise (36 channels), and CLIP image tokens."""
    import torch
    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(0)
    encoder = CLIPVisionModel(CLIPVisionConfig(hidden_size=4, projection_dim=4, num_hidden_layers=2,
                                               num_attention_heads=2, image_size=32, intermediate_size=16,
                                               patch_size=4))
    return WanImageToVideoPipeline(
        tokenizer=t5_tokenizer(), text_encoder=t5_encoder(), vae=video_vae("wan"),
        scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0),
        image_processor=CLIPImageProcessor(crop_size=32, size=32), image_encoder=encoder,
        transformer=_wan_i2v_transformer(image_dim=4),
    )


def wan22_i2v() -> Any:
    """Wan 2.2 A14B I2V: two experts (high and low noise), no image encoder."""
    import torch
    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline

    second = _wan_i2v_transformer()
    with torch.no_grad():  # a different expert, so the boundary actually switches models
        for p in second.parameters():
            p.mul_(-1.0)
    return WanImageToVideoPipeline(
        tokenizer=t5_tokenizer(), text_encoder=t5_encoder(), vae=video_vae("wan"),
        scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0),
        transformer=_wan_i2v_transformer(), transformer_2=second, boundary_ratio=0.875,
    )


def wan22_ti2v() -> Any:
    """Wan2.2-TI2V-5B: a 48-channel, 16x-downsampling VAE; saved as WanPipeline (as published), animating an
    image when loaded as WanImageToVideoPipeline (its first frame's latents are held, `expand_timesteps`)."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2,
                           latents_mean=[0.0] * 48, latents_std=[1.0] * 48, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           scale_factor_spatial=16, scale_factor_temporal=4, temperal_downsample=[False, True, True])
    return WanPipeline(
        tokenizer=t5_tokenizer(), text_encoder=t5_encoder(), vae=vae,
        scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0),
        transformer=_wan_i2v_transformer(in_channels=48, out_channels=48), expand_timesteps=True,
    )


def cogvideox_i2v() -> Any:
    """CogVideoX-5b-I2V-shaped: the image latents beside the noise (8 channels), rotary and learned positions
    (which fix the size: 32x16 here, 720x480 in the published model)."""
    import torch
    from diffusers import CogVideoXImageToVideoPipeline, CogVideoXTransformer3DModel, DDIMScheduler

    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=8, out_channels=4, time_embed_dim=2,
        text_embed_dim=32, num_layers=1, sample_width=4, sample_height=2, sample_frames=9, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=226, use_rotary_positional_embeddings=True,
        use_learned_positional_embeddings=True,
    )
    return CogVideoXImageToVideoPipeline(tokenizer=t5_tokenizer(226), text_encoder=t5_encoder(),
                                         vae=video_vae("cogvideox"), transformer=transformer,
                                         scheduler=DDIMScheduler())


I2V_BUILDERS: dict[str, Callable[[], Any]] = {
    "wan-i2v": wan_i2v, "wan2.2-i2v": wan22_i2v, "wan2.2-ti2v": wan22_ti2v, "cogvideox-i2v": cogvideox_i2v,
}


def build_i2v(cache_dir: Path, name: str) -> Path:
    """Save the tiny image-to-video pipeline `name` under `cache_dir`; returns its folder."""
    if name not in I2V_BUILDERS:
        raise KeyError(f"no tiny image-to-video builder '{name}'; known: {', '.join(I2V_BUILDERS)}")
    return save_once(Path(cache_dir) / name, I2V_BUILDERS[name])


def product_png(path: Path, size: tuple[int, int] = (48, 64)) -> Path:
    """A stand-in product photo with transparency: a gold bottle with a white cap on a clear ground."""
    import numpy as np
    from PIL import Image

    path = Path(path)
    if path.exists():
        return path
    w, h = size
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[h // 5 :, w // 4 : 3 * w // 4] = (242, 193, 78, 255)
    rgba[h // 10 : h // 5, w // 3 : 2 * w // 3] = (235, 235, 235, 255)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgba, "RGBA").save(path)
    return path
