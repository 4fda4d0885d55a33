"""AudioGen at inference on the project's torch: a converted checkpoint run with transformers' classes.

What audiocraft's `LMModel` + `T5Conditioner` + `EncodecModel` do, step for step:
- text: T5 tokens (prompts and, for classifier-free guidance, as many empty prompts in the same
  padded batch), T5 encoder, a linear projection, padding (and empty prompts) zeroed; the LM
  cross-attends to all of it, padding included, exactly as audiocraft does;
- codes: the delay pattern (codebook k lags k steps; step 0 is all special tokens), sampled with
  audiocraft's top-k / top-p / temperature rules and `uncond + (cond - uncond) * cfg_coef`;
- audio: EnCodec decode of the codes at the model's rate (16 kHz for AudioGen).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generators.audiogen_convert import MANIFEST
from generators.errors import ModelUnavailable


@dataclass(frozen=True)
class Sampling:
    """audiocraft's generation parameters (AudioGen.set_generation_params defaults)."""

    use_sampling: bool = True
    temperature: float = 1.0
    top_k: int = 250
    top_p: float = 0.0
    cfg_coef: float = 3.0


class AudioGenModel:
    """The converted LM, text conditioner and codec, with teacher-forced logits, generation and decode."""

    def __init__(self, lm: Any, text_proj: Any, t5: Any, tokenizer: Any, codec: Any,
                 settings: dict[str, Any], frame_rate: float) -> None:
        self.lm, self.text_proj, self.t5, self.tokenizer, self.codec = lm, text_proj, t5, tokenizer, codec
        self.settings = settings
        self.n_q: int = settings["n_q"]
        self.card: int = settings["card"]
        self.frame_rate = frame_rate
        self.sample_rate: int = codec.config.sampling_rate

    @classmethod
    def from_converted(cls, path: Path, text_encoder: str | None = None, device: str = "cpu",
                       dtype: str = "float32") -> AudioGenModel:
        """Load a folder written by `audiogen_convert.convert_checkpoint` (+ the T5 it names)."""
        import torch
        from safetensors.torch import load_file
        from transformers import EncodecModel, MusicgenForCausalLM

        manifest = json.loads((Path(path) / MANIFEST).read_text())
        settings = manifest["settings"]
        torch_dtype = getattr(torch, dtype)
        lm = MusicgenForCausalLM.from_pretrained(path / "lm", attn_implementation="sdpa").eval()
        set_positions(lm, settings["max_period"], settings["positional_scale"])
        lm.to(device=device, dtype=torch_dtype)
        proj_state = load_file(str(path / "text_proj.safetensors"))
        text_proj = torch.nn.Linear(proj_state["weight"].shape[1], proj_state["weight"].shape[0])
        text_proj.load_state_dict(proj_state)
        t5, tokenizer = load_t5(text_encoder or settings["t5_name"])
        codec = EncodecModel.from_pretrained(path / "codec").eval()
        return cls(lm, text_proj.eval().to(device), t5.to(device), tokenizer, codec.to(device),
                   settings, float(manifest["frame_rate"]))

    @property
    def device(self) -> Any:
        return next(self.lm.parameters()).device

    # 1. text conditioning -------------------------------------------------------------------

    def encode_text(self, texts: list[str]) -> Any:
        """Cross-attention source [B, L, dim] for `texts`, as audiocraft's T5Conditioner makes it."""
        import torch

        inputs = self.tokenizer(texts, return_tensors="pt", padding=True)
        mask = inputs["attention_mask"].to(self.device)
        mask[[i for i, text in enumerate(texts) if text == ""], :] = 0  # an absent condition
        with torch.no_grad():
            hidden = self.t5(input_ids=inputs["input_ids"].to(self.device), attention_mask=mask).last_hidden_state
            embeds = self.text_proj(hidden.to(self.text_proj.weight))
        # audiocraft multiplies by the mask; `where` is the same for finite values and NaN-safe
        return torch.where(mask[..., None].bool(), embeds, torch.zeros_like(embeds))

    # 2. the LM on the delay pattern -------------------------------------------------------------

    def forward(self, sequence: Any, cross: Any, past: Any = None) -> tuple[Any, Any]:
        """Logits [B, K, S, card] for pattern steps `sequence` [B, K, S], and the updated KV cache."""
        batch, k, steps = sequence.shape
        out = self.lm(input_ids=sequence.reshape(batch * k, steps),
                      encoder_hidden_states=cross.to(self.lm.dtype), past_key_values=past, use_cache=True)
        return out.logits.reshape(batch, k, steps, -1).float(), out.past_key_values

    def predict(self, codes: Any, texts: list[str]) -> tuple[Any, Any]:
        """Teacher-forced logits [B, K, T, card] (NaN where the pattern has no valid prediction) and mask [K, T].

        The equivalent of audiocraft's `LMModel.compute_predictions(codes, conditions)`.
        """
        import torch

        batch, k, t = codes.shape
        sequence = delay_sequence(codes, self.card, steps=t + 1)
        with torch.no_grad():
            logits, _ = self.forward(sequence, self.encode_text(texts))
        out = torch.full((batch, k, t, logits.shape[-1]), float("nan"), device=logits.device)
        mask = torch.zeros(k, t, dtype=torch.bool)
        for q in range(k):
            out[:, q, : t - q] = logits[:, q, q:t]
            mask[q, : t - q] = True
        return out, mask

    def generate(self, texts: list[str], frames: int, sampling: Sampling, generator: Any,
                 prompt: Any = None) -> Any:
        """Codes [B, K, frames] for `texts` with classifier-free guidance (audiocraft's `LMModel.generate`)."""
        import torch

        batch, k = len(texts), self.n_q
        cross = self.encode_text(list(texts) + [""] * batch)
        known = torch.full((batch, k, frames), -1, dtype=torch.long, device=self.device)
        start = 0 if prompt is None else prompt.shape[-1]
        if prompt is not None:
            known[..., :start] = prompt
        sequence = delay_sequence(known, self.card, steps=frames + k)
        valid = pattern_mask(k, frames, steps=frames + k).to(self.device)
        past, prev = None, 0
        with torch.no_grad():
            for offset in range(start + 1, frames + k):
                chunk = sequence[..., prev:offset]
                logits, past = self.forward(torch.cat([chunk, chunk]), cross, past)
                cond, uncond = logits[:, :, -1].split(batch)
                token = sample(uncond + (cond - uncond) * sampling.cfg_coef, sampling, generator)
                token[~valid[:, offset].expand(batch, -1)] = self.card
                step = sequence[..., offset]
                sequence[..., offset] = torch.where(step == -1, token, step)
                prev = offset
        return undelay(sequence, frames)

    def generate_long(self, texts: list[str], frames: int, sampling: Sampling, generator: Any,
                      extend_stride: float = 2.0) -> Any:
        """Codes beyond the trained window, continuing from the last window like audiocraft's `_generate_tokens`."""
        import torch

        window = int(self.settings["max_duration"] * self.frame_rate)
        if frames <= window:
            return self.generate(texts, frames, sampling, generator)
        stride = int(extend_stride * self.frame_rate)
        pieces, prompt, offset = [], None, 0
        while offset + (0 if prompt is None else prompt.shape[-1]) < frames:
            codes = self.generate(texts, min(frames - offset, window), sampling, generator, prompt)
            pieces.append(codes if prompt is None else codes[..., prompt.shape[-1]:])
            prompt, offset = codes[..., stride:], offset + stride
        return torch.cat(pieces, dim=-1)

    # 3. audio ---------------------------------------------------------------------------------

    def decode(self, codes: Any) -> Any:
        """Waveform [B, C, N] at `sample_rate` for codes [B, K, T] (audiocraft's `EncodecModel.decode`)."""
        import torch

        with torch.no_grad():
            return self.codec.decode(codes[None].to(self.device), [None], return_dict=False)[0].float()

    def encode(self, wav: Any) -> Any:
        """Codes [B, K, T] for a waveform [B, C, N] (audiocraft's `EncodecModel.encode`, unnormalized)."""
        import torch

        with torch.no_grad():
            embeddings = self.codec.encoder(wav.to(self.device))
            return self.codec.quantizer.encode(embeddings).transpose(0, 1)


# 4. the delay pattern and sampling (audiocraft's DelayedPatternProvider and utils.sample_*) ------


def delay_sequence(codes: Any, special: int, steps: int) -> Any:
    """Pattern steps [B, K, steps]: step s holds code t = s - 1 - k of codebook k, else `special`."""
    import torch

    batch, k, t = codes.shape
    sequence = torch.full((batch, k, steps), special, dtype=torch.long, device=codes.device)
    for q in range(k):
        last = min(t, steps - 1 - q)
        sequence[:, q, 1 + q: 1 + q + last] = codes[:, q, :last]
    return sequence


def pattern_mask(k: int, frames: int, steps: int) -> Any:
    """[K, steps]: True where a pattern step holds a real code (not the special token)."""
    import torch

    mask = torch.zeros(k, steps, dtype=torch.bool)
    for q in range(k):
        mask[q, 1 + q: min(steps, 1 + q + frames)] = True
    return mask


def undelay(sequence: Any, frames: int) -> Any:
    """Codes [B, K, frames] back from pattern steps."""
    import torch

    return torch.stack([sequence[:, q, 1 + q: 1 + q + frames] for q in range(sequence.shape[1])], dim=1)


def sample(logits: Any, sampling: Sampling, generator: Any) -> Any:
    """Next tokens [B, K] from logits [B, K, card]: audiocraft's temperature, top-p, top-k rules."""
    import torch

    if not (sampling.use_sampling and sampling.temperature > 0):
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / sampling.temperature, dim=-1)
    if sampling.top_p > 0:
        ordered, index = torch.sort(probs, dim=-1, descending=True)
        ordered = ordered * (~(ordered.cumsum(dim=-1) - ordered > sampling.top_p)).float()
        ordered = ordered / ordered.sum(dim=-1, keepdim=True)
        return torch.gather(index, -1, _multinomial(ordered, generator)[..., None])[..., 0]
    if sampling.top_k > 0:
        floor = torch.topk(probs, min(sampling.top_k, probs.shape[-1]), dim=-1)[0][..., [-1]]
        probs = probs * (probs >= floor).float()
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return _multinomial(probs, generator)


def _multinomial(probs: Any, generator: Any) -> Any:
    import torch

    flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), num_samples=1, generator=generator)
    return flat.reshape(probs.shape[:-1])


# 5. loading helpers ------------------------------------------------------------------------------


def set_positions(lm: Any, max_period: float, scale: float) -> None:
    """Use audiocraft's sinusoid formula (pos / period ** (i / (half - 1))) for the position table."""
    import torch

    table = lm.model.decoder.embed_positions
    half = table.embedding_dim // 2
    positions = torch.arange(table.num_positions, dtype=torch.float32)[:, None]
    phase = positions / (max_period ** (torch.arange(half, dtype=torch.float32) / (half - 1)))
    table.weights = torch.cat([torch.cos(phase), torch.sin(phase)], dim=-1) * scale


def load_t5(name: str) -> tuple[Any, Any]:
    """T5 encoder + tokenizer by hub id or path; legacy ids ('t5-large') also try 'google-t5/...'."""
    from transformers import AutoTokenizer, T5EncoderModel

    candidates = [name] if "/" in name or Path(name).exists() else [name, f"google-t5/{name}"]
    errors = []
    for candidate in candidates:
        try:
            tokenizer = AutoTokenizer.from_pretrained(candidate)
            return T5EncoderModel.from_pretrained(candidate).eval(), tokenizer
        except (OSError, ValueError) as exc:
            errors.append(f"{candidate}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    raise ModelUnavailable(f"audiogen: text encoder '{name}' is not available offline ({'; '.join(errors)})")
