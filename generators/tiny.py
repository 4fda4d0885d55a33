"""Tiny random-weight models for the smoke profile, saved with `save_pretrained`.

Each builder makes the real classes at toy size (2 layers, 16-32 px, a few frames, seed 0, the
`get_dummy_components()` shapes of diffusers' own tests) and saves them to a folder, which the
backends then load through the very `from_pretrained(path)` call users make with a hub id.
Tokenizers are built from an in-memory character vocabulary, so different prompts give different
ids (a bare `T5Tokenizer()` maps every prompt to the same ids).
"""

from __future__ import annotations

import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Bump when a builder changes shape: the smoke cache folder name includes it.
TINY_VERSION = "1"

_CHARS = string.ascii_lowercase + string.ascii_uppercase + string.digits + string.punctuation


# 1. Tokenizers -------------------------------------------------------------------------------


def t5_tokenizer(max_length: int = 128) -> Any:
    """A unigram T5 tokenizer over single characters (and word-initial characters)."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(c, -3.0) for c in _CHARS] + [("▁" + c, -2.5) for c in _CHARS]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)


def llama_tokenizer(max_length: int = 256) -> Any:
    """A character-level Llama tokenizer with a pad token (Hunyuan pads to max length)."""
    from transformers import LlamaTokenizer

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3}
    for c in ["▁", *_CHARS]:
        vocab.setdefault(c, len(vocab))
    return LlamaTokenizer(vocab=vocab, merges=[], pad_token="<pad>", model_max_length=max_length)


def _byte_alphabet() -> list[str]:
    from tokenizers.pre_tokenizers import ByteLevel

    return sorted(ByteLevel.alphabet())


def clip_tokenizer(max_length: int = 77) -> Any:
    """A byte-level CLIP tokenizer with no merges (every byte is a token)."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in _byte_alphabet():
        vocab.setdefault(c, len(vocab))
    for c in _byte_alphabet():
        vocab.setdefault(c + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def roberta_tokenizer(max_length: int = 77) -> Any:
    """A byte-level RoBERTa tokenizer with no merges."""
    from transformers import RobertaTokenizer

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 4}
    for c in _byte_alphabet():
        vocab.setdefault(c, len(vocab))
    return RobertaTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def t5_encoder(d_model: int = 32, vocab_size: int = 256) -> Any:
    """A 2-layer T5 encoder."""
    import torch
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    config = T5Config(vocab_size=vocab_size, d_model=d_model, d_ff=37, d_kv=8, num_heads=4, num_layers=2)
    return T5EncoderModel(config)


def clip_text_encoder(hidden_size: int = 32, with_projection: bool = False) -> Any:
    """A 2-layer CLIP text encoder."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    config = CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=hidden_size, intermediate_size=37,
        num_attention_heads=4, num_hidden_layers=2, vocab_size=1000, projection_dim=32,
    )
    return (CLIPTextModelWithProjection if with_projection else CLIPTextModel)(config)


# 2. Video pipelines --------------------------------------------------------------------------


def video_vae(family: str) -> Any:
    """The tiny VAE of a video family (seed 0), alone: for pipelines, and for decode checks."""
    import torch
    from diffusers import (
        AutoencoderKL,
        AutoencoderKLCogVideoX,
        AutoencoderKLHunyuanVideo,
        AutoencoderKLLTXVideo,
        AutoencoderKLMochi,
        AutoencoderKLWan,
    )

    torch.manual_seed(0)
    if family == "wan":
        return AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                temperal_downsample=[False, True, True])
    if family == "ltx":
        return AutoencoderKLLTXVideo(
            latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
            spatio_temporal_scaling=(True, True, False, False),
            decoder_spatio_temporal_scaling=(True, True, False, False), layers_per_block=(1, 1, 1, 1, 1),
            decoder_layers_per_block=(1, 1, 1, 1, 1), patch_size=1, patch_size_t=1, encoder_causal=True,
            decoder_causal=False,
        )
    if family == "cogvideox":
        return AutoencoderKLCogVideoX(
            in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
            up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8,) * 4, latent_channels=4,
            layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4,
        )
    if family == "mochi":
        return AutoencoderKLMochi(latent_channels=12, out_channels=3, encoder_block_out_channels=(32, 32, 32, 32),
                                  decoder_block_out_channels=(32, 32, 32, 32), layers_per_block=(1, 1, 1, 1, 1))
    if family == "hunyuan":
        return AutoencoderKLHunyuanVideo(
            in_channels=3, out_channels=3, latent_channels=4, down_block_types=("HunyuanVideoDownBlock3D",) * 4,
            up_block_types=("HunyuanVideoUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
            act_fn="silu", norm_num_groups=4, scaling_factor=0.476986, spatial_compression_ratio=8,
            temporal_compression_ratio=4, mid_block_add_attention=True,
        )
    if family == "animatediff":
        return AutoencoderKL(block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
                             down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                             up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"])
    raise KeyError(f"no tiny VAE for video family '{family}'; known: wan, ltx, cogvideox, mochi, hunyuan, animatediff")


def _wan_transformer(in_channels: int = 16) -> Any:
    import torch
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=in_channels,
        out_channels=in_channels, text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
    )


def wan(variant: str | None = None) -> Any:
    """Wan 2.1 (one transformer) or, with variant "2.2", Wan 2.2's two-transformer layout."""
    import torch
    from diffusers import UniPCMultistepScheduler, WanPipeline

    vae = video_vae("wan")
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    two = variant == "2.2"
    transformer_2 = None
    if two:
        transformer_2 = _wan_transformer()
        with torch.no_grad():  # a different expert, so the boundary actually switches models
            for p in transformer_2.parameters():
                p.mul_(-1.0)
    return WanPipeline(
        tokenizer=t5_tokenizer(), text_encoder=t5_encoder(), vae=vae, scheduler=scheduler,
        transformer=_wan_transformer(), transformer_2=transformer_2,
        boundary_ratio=0.875 if two else None,
    )


def ltx(variant: str | None = None) -> Any:
    """LTX-Video."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4,
        attention_head_dim=8, cross_attention_dim=32, num_layers=2, caption_channels=32,
    )
    vae = video_vae("ltx")
    return LTXPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=t5_encoder(),
                       tokenizer=t5_tokenizer(), transformer=transformer)


def cogvideox(variant: str | None = None) -> Any:
    """CogVideoX 1.0 (2B-shaped: sincos positions, no temporal patches)."""
    import torch
    from diffusers import (
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
        DDIMScheduler,
    )

    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=4, attention_head_dim=8, in_channels=4, out_channels=4, time_embed_dim=2,
        text_embed_dim=32, num_layers=2, sample_width=2, sample_height=2, sample_frames=9, patch_size=2,
        temporal_compression_ratio=4, max_text_seq_length=226,
    )
    vae = video_vae("cogvideox")
    return CogVideoXPipeline(tokenizer=t5_tokenizer(226), text_encoder=t5_encoder(), vae=vae,
                             transformer=transformer, scheduler=DDIMScheduler())


def mochi(variant: str | None = None) -> Any:
    """Mochi 1."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        MochiPipeline,
        MochiTransformer3DModel,
    )

    torch.manual_seed(0)
    transformer = MochiTransformer3DModel(
        patch_size=2, num_attention_heads=2, attention_head_dim=8, num_layers=2, pooled_projection_dim=16,
        in_channels=12, out_channels=None, qk_norm="rms_norm", text_embed_dim=32, time_embed_dim=4,
        activation_fn="swiglu", max_sequence_length=256,
    )
    transformer.pos_frequencies.data = transformer.pos_frequencies.new_full(transformer.pos_frequencies.shape, 0)
    vae = video_vae("mochi")
    return MochiPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=t5_encoder(),
                         tokenizer=t5_tokenizer(256), transformer=transformer)


def hunyuan(variant: str | None = None) -> Any:
    """HunyuanVideo (Llama + CLIP text encoders)."""
    import torch
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        HunyuanVideoPipeline,
        HunyuanVideoTransformer3DModel,
    )
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(0)
    transformer = HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10, num_layers=1,
        num_single_layers=1, num_refiner_layers=1, patch_size=1, patch_size_t=1, guidance_embeds=True,
        text_embed_dim=16, pooled_projection_dim=8, rope_axes_dim=(2, 4, 4),
    )
    vae = video_vae("hunyuan")
    torch.manual_seed(0)
    llama = LlamaModel(LlamaConfig(
        bos_token_id=1, eos_token_id=2, pad_token_id=3, hidden_size=16, intermediate_size=37,
        num_attention_heads=4, num_hidden_layers=2, vocab_size=1000, hidden_act="gelu",
    ))
    return HunyuanVideoPipeline(
        text_encoder=llama, tokenizer=llama_tokenizer(), transformer=transformer, vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), text_encoder_2=clip_text_encoder(hidden_size=8),
        tokenizer_2=clip_tokenizer(),
    )


def animatediff(variant: str | None = None) -> Any:
    """AnimateDiff: a tiny SD-1.5-shaped UNet with a motion adapter."""
    import torch
    from diffusers import (
        AnimateDiffPipeline,
                DDIMScheduler,
        MotionAdapter,
    )

    unet = _unet2d()
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="linear", clip_sample=False)
    vae = video_vae("animatediff")
    torch.manual_seed(0)
    adapter = MotionAdapter(block_out_channels=(32, 64), motion_layers_per_block=1, motion_norm_num_groups=2,
                            motion_num_attention_heads=4)
    return AnimateDiffPipeline(vae=vae, text_encoder=clip_text_encoder(), tokenizer=clip_tokenizer(), unet=unet,
                               motion_adapter=adapter, scheduler=scheduler, feature_extractor=None,
                               image_encoder=None)


VIDEO_BUILDERS: dict[str, Callable[[str | None], Any]] = {
    "wan": wan, "ltx": ltx, "cogvideox": cogvideox, "mochi": mochi, "hunyuan": hunyuan,
    "animatediff": animatediff,
}


# 3. Saving -----------------------------------------------------------------------------------


def save_once(path: Path, build: Callable[[], Any], marker: str = "model_index.json") -> Path:
    """Build and `save_pretrained` into `path` unless a finished build is already there."""
    path = Path(path)
    if not ((path / marker).exists() and (path / ".complete").exists()):
        path.mkdir(parents=True, exist_ok=True)
        build().save_pretrained(str(path))
        (path / ".complete").write_text(TINY_VERSION)
    card = path / "README.md"
    if not card.exists():  # a model card like the hub's, so the license lookup reads these as briefcut's own
        card.write_text(TINY_CARD)
    return path


TINY_CARD = """---
license: apache-2.0
---
Tiny random weights built locally by briefcut's smoke builder (generators/tiny.py): no training data,
no one else's weights; briefcut's own license applies.
"""


def build_video(cache_dir: Path, family: str, variant: str | None = None) -> Path:
    """Save the tiny pipeline of `family` (and `variant`) under `cache_dir`; returns its folder."""
    if family not in VIDEO_BUILDERS:
        raise KeyError(f"no tiny builder for video family '{family}'; known: {', '.join(VIDEO_BUILDERS)}")
    name = family + (f"-{variant}" if variant else "")
    return save_once(Path(cache_dir) / name, lambda: VIDEO_BUILDERS[family](variant))


# 4. Audio models -----------------------------------------------------------------------------


def audioldm2(variant: str | None = None) -> Any:
    """AudioLDM2: CLAP + T5 + GPT-2 conditioning, a tiny UNet, VAE and HiFi-GAN vocoder (hop 160)."""
    import torch
    from diffusers import (
        AudioLDM2Pipeline,
        AudioLDM2ProjectionModel,
        AudioLDM2UNet2DConditionModel,
        AutoencoderKL,
        DDIMScheduler,
    )
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapTextConfig,
        GPT2Config,
        GPT2Model,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
    )

    torch.manual_seed(0)
    unet = AudioLDM2UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=([None, 16, 32], [None, 16, 32]),
    )
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False)
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=[32, 64], in_channels=1, out_channels=1, latent_channels=4,
                        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2)
    torch.manual_seed(0)
    text = ClapTextConfig(bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_size=16, intermediate_size=37,
                          num_attention_heads=2, num_hidden_layers=2, vocab_size=1000, projection_dim=16)
    audio = ClapAudioConfig(spec_size=64, window_size=4, num_mel_bins=64, intermediate_size=37, depths=[2, 2],
                            num_attention_heads=[2, 2], num_hidden_layers=2, hidden_size=192, projection_dim=16,
                            patch_size=2, patch_stride=2, patch_embed_input_channels=4)
    clap = ClapModel(ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=16))
    torch.manual_seed(0)
    gpt2 = GPT2Model(GPT2Config(n_embd=16, n_head=2, n_layer=2, vocab_size=1000, n_ctx=99, n_positions=99))
    gpt2.config.max_new_tokens = 8
    torch.manual_seed(0)
    projection = AudioLDM2ProjectionModel(text_encoder_dim=16, text_encoder_1_dim=32, langauge_model_dim=16)
    vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(
        model_in_dim=8, sampling_rate=16000, upsample_initial_channel=16, upsample_rates=[10, 8, 2],
        upsample_kernel_sizes=[20, 16, 4], resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]],
        normalize_before=False, initializer_range=0.5,
    ))
    return AudioLDM2Pipeline(
        vae=vae, text_encoder=clap, text_encoder_2=t5_encoder(), projection_model=projection,
        language_model=gpt2, tokenizer=roberta_tokenizer(), tokenizer_2=t5_tokenizer(),
        feature_extractor=ClapFeatureExtractor(), unet=unet, scheduler=scheduler, vocoder=vocoder,
    )


def stable_audio(variant: str | None = None) -> Any:
    """Stable Audio Open: a tiny DiT over a tiny Oobleck VAE at 8 kHz (hop 256, up to ~8 s)."""
    import torch
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
        StableAudioProjectionModel,
    )

    torch.manual_seed(0)
    transformer = StableAudioDiTModel(
        sample_size=256, in_channels=3, num_layers=2, attention_head_dim=4, num_key_value_attention_heads=2,
        out_channels=3, cross_attention_dim=4, time_proj_dim=8, global_states_input_dim=8,
        cross_attention_input_dim=4,
    )
    scheduler = CosineDPMSolverMultistepScheduler(solver_order=2, prediction_type="v_prediction", sigma_data=1.0,
                                                  sigma_schedule="exponential")
    torch.manual_seed(0)
    vae = AutoencoderOobleck(encoder_hidden_size=6, downsampling_ratios=[2, 4, 4, 8], decoder_channels=3,
                             decoder_input_channels=3, audio_channels=2, channel_multiples=[1, 2, 2, 2],
                             sampling_rate=8000)
    torch.manual_seed(0)
    projection = StableAudioProjectionModel(text_encoder_dim=32, conditioning_dim=4, min_value=0, max_value=512)
    return StableAudioPipeline(vae=vae, text_encoder=t5_encoder(), projection_model=projection,
                               tokenizer=t5_tokenizer(), transformer=transformer, scheduler=scheduler)


def musicgen(variant: str | None = None) -> tuple[Any, Any]:
    """MusicGen: a tiny T5 + 2-layer decoder over a tiny EnCodec (16 kHz, 50 frames/s, 4 codebooks)."""
    import torch
    from transformers import (
        EncodecConfig,
        EncodecFeatureExtractor,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        MusicgenProcessor,
    )

    torch.manual_seed(0)
    encodec = EncodecConfig(sampling_rate=16000, target_bandwidths=[2.2], upsampling_ratios=[8, 5, 4, 2],
                            hidden_size=16, num_filters=4, num_residual_layers=1, codebook_size=64,
                            codebook_dim=16, num_lstm_layers=1, audio_channels=1)
    decoder = MusicgenDecoderConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                    ffn_dim=37, num_codebooks=4, max_position_embeddings=4096,
                                    pad_token_id=64, bos_token_id=64)
    text = t5_encoder().config
    config = MusicgenConfig(text_encoder=text.to_dict(), audio_encoder=encodec.to_dict(), decoder=decoder.to_dict())
    model = MusicgenForConditionalGeneration(config)
    with torch.no_grad():  # EnCodec codebooks start at zero (k-means fills them in training)
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.copy_(torch.randn_like(layer.codebook.embed))
    model.generation_config.decoder_start_token_id = 64
    model.generation_config.pad_token_id = 64
    processor = MusicgenProcessor(feature_extractor=EncodecFeatureExtractor(sampling_rate=16000),
                                  tokenizer=t5_tokenizer())
    return model, processor


def build_audio(cache_dir: Path, name: str, variant: str | None = None) -> Path:
    """Save the tiny audio model `name` ("audioldm2", "stable-audio", "musicgen") under `cache_dir`."""
    path = Path(cache_dir) / name
    if name == "audioldm2":
        return save_once(path, lambda: audioldm2(variant))
    if name == "stable-audio":
        return save_once(path, lambda: stable_audio(variant))
    if name == "musicgen":
        return save_once(path, lambda: _Both(*musicgen(variant)), marker="config.json")
    raise KeyError(f"no tiny builder for audio model '{name}'; known: audioldm2, stable-audio, musicgen")


class _Both:
    """Saves a model and its processor into one folder, like a hub repo holds both."""

    def __init__(self, model: Any, processor: Any) -> None:
        self.model, self.processor = model, processor

    def save_pretrained(self, path: str) -> None:
        self.model.save_pretrained(path)
        self.processor.save_pretrained(path)


def build_wan_lora(path: Path, base_model: str, rank: int = 4, seed: int = 0) -> Path:
    """A random LoRA for the tiny Wan transformer, saved like a trained one (`save_lora_weights`)."""
    path = Path(path)
    if (path / "pytorch_lora_weights.safetensors").exists():
        return path
    import torch
    from diffusers import WanPipeline, WanTransformer3DModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    transformer = WanTransformer3DModel.from_pretrained(base_model, subfolder="transformer")
    torch.manual_seed(seed)
    transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights="gaussian",
                                       target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    with torch.no_grad():  # gaussian init leaves B at zero; make the adapter actually change outputs
        for name, p in transformer.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.5)
    WanPipeline.save_lora_weights(str(path), transformer_lora_layers=get_peft_model_state_dict(transformer))
    return path


def build_animatediff_parts(cache_dir: Path) -> tuple[Path, Path]:
    """The tiny AnimateDiff as it is published: a MotionAdapter repo alone and a Stable Diffusion 1.5
    base repo, which diffusers joins with `AnimateDiffPipeline.from_pretrained(base, motion_adapter=...)`."""
    from diffusers import StableDiffusionPipeline

    full = animatediff()
    root = Path(cache_dir) / "animatediff-parts"
    adapter = save_once(root / "motion-adapter", lambda: full.motion_adapter, marker="config.json")
    base = save_once(root / "sd15-base", lambda: StableDiffusionPipeline(
        vae=full.vae, text_encoder=full.text_encoder, tokenizer=full.tokenizer, unet=_unet2d(),
        scheduler=full.scheduler, safety_checker=None, feature_extractor=None, image_encoder=None,
        requires_safety_checker=False))
    return adapter, base


def _unet2d() -> Any:
    """The tiny AnimateDiff's 2D UNet as a base model has it (the same seed and shapes as `animatediff`)."""
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, norm_num_groups=2,
    )
    return unet
