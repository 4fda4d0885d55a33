"""A tiny random-weight CLIP, built offline and saved like a hub checkpoint (for tests and `smoke`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

# A working CLIP byte-level BPE with no merges: every byte is a piece, alone or ending a word.
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
IMAGE_SIZE = 32


def _bytes_to_unicode() -> list[str]:
    """CLIP/GPT-2's reversible byte -> printable unicode map, in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def tiny_vocab() -> dict[str, int]:
    """Byte pieces, the same pieces closing a word (`</w>`), then the two special tokens."""
    pieces = _bytes_to_unicode()
    tokens = pieces + [p + "</w>" for p in pieces] + [BOS, EOS]
    return {token: i for i, token in enumerate(tokens)}


def _tiny_config(vocab: dict[str, int]):  # -> transformers.CLIPConfig
    from transformers import CLIPConfig

    text = dict(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77,
        bos_token_id=vocab[BOS], eos_token_id=vocab[EOS], pad_token_id=vocab[EOS],
    )
    vision = dict(
        image_size=IMAGE_SIZE, patch_size=8, hidden_size=32, intermediate_size=37,
        num_hidden_layers=2, num_attention_heads=4,
    )
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=16)


def _tiny_processor(vocab: dict[str, int]):  # -> transformers.CLIPProcessor
    from transformers import CLIPImageProcessorPil, CLIPProcessor, CLIPTokenizer

    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    images = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    return CLIPProcessor(image_processor=images, tokenizer=tokenizer)


def build_tiny_clip(path: Path, seed: int = 0) -> Path:
    """Build a tiny random CLIPModel with a real tokenizer and image processor, save it at `path`."""
    import torch
    from transformers import CLIPModel

    path = Path(path)
    if (path / "config.json").exists() and (path / "preprocessor_config.json").exists():
        return path
    # 1. build in a sibling temp dir, then rename: concurrent builders never see half a model
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=path.parent))
    vocab = tiny_vocab()
    torch.manual_seed(seed)
    model = CLIPModel(_tiny_config(vocab)).eval()
    model.save_pretrained(tmp)
    _tiny_processor(vocab).save_pretrained(tmp)
    # 2. publish atomically; if another process won the race, keep theirs
    try:
        os.rename(tmp, path)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return path
