"""AudioGen without audiocraft: equivalence with audiocraft 1.3.0's own code, smoke renders, the cache.

Equivalence: audiocraft builds a toy AudioGen with its builders and saves it in the published
layout; it also loads the smoke checkpoint that `build_smoke` writes. For both, the converted
transformers model must give the same logits and waveforms (within ATOL; measured: bit-identical)
and the same generated codes (greedy, prompted, top-k and top-p sampled with the same seed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from generators.audio_audiogen import AudioGenAudio, build_smoke
from generators.audiogen_convert import UnsupportedCheckpoint, convert_checkpoint, lm_settings
from generators.audiogen_export import lm_xp_cfg
from generators.audiogen_model import AudioGenModel, Sampling
from generators.base import AUDIO, SoundRequest
from generators.errors import MissingDependency, ModelUnavailable
from generators.media import read_wav

ATOL = 1e-5
PROMPTS = ["a dog barks twice in the rain", "door", ""]  # padding and an absent condition


@pytest.fixture(scope="module", params=["toy", "smoke"])
def pair(request, audiocraft_reference, audiogen_smoke, tmp_path_factory) -> tuple[AudioGenModel, dict]:
    """(our model, audiocraft's outputs) for the toy checkpoint audiocraft built and for the smoke one."""
    ckpt = audiocraft_reference["toy_dir"] if request.param == "toy" else Path(audiogen_smoke["model"])
    converted = convert_checkpoint(ckpt, tmp_path_factory.mktemp("converted"))
    # audiocraft loaded the checkpoint's T5 ("t5-small") from a local hub cache: use the same one
    model = AudioGenModel.from_converted(converted.path, str(audiocraft_reference["t5"]))
    return model, audiocraft_reference[request.param]


def test_logits_match_audiocraft(pair) -> None:
    model, ref = pair
    logits, mask = model.predict(ref["codes"], PROMPTS)
    assert torch.equal(mask, ref["logits_mask"].bool())
    valid = mask[None, :, :, None].expand_as(logits)
    assert torch.isnan(logits[~valid]).all()
    torch.testing.assert_close(logits[valid], ref["logits"][valid], atol=ATOL, rtol=0)


def test_greedy_and_prompted_generation_match_audiocraft(pair) -> None:
    model, ref = pair
    greedy = Sampling(use_sampling=False, cfg_coef=3.0)
    assert torch.equal(model.generate(PROMPTS[:2], 20, greedy, torch.Generator()), ref["greedy"])
    prompt = ref["greedy"][..., :6]
    assert torch.equal(model.generate(PROMPTS[:2], 20, greedy, torch.Generator(), prompt=prompt), ref["continued"])


@pytest.mark.parametrize("kind", ["top_k", "top_p"])
def test_sampled_generation_matches_audiocraft_with_same_seed(pair, kind: str) -> None:
    model, ref = pair
    seed = 3 if ref["codes"].max() < 32 else 2  # the reference seeded torch with seed + 1 (smoke: 2, toy: 1)
    sampling = Sampling(top_k=8, cfg_coef=2.5) if kind == "top_k" else Sampling(top_p=0.9, top_k=0, cfg_coef=2.5)
    codes = model.generate(PROMPTS[:2], 20, sampling, torch.Generator().manual_seed(seed))
    assert torch.equal(codes, ref[kind])


def test_decode_and_encode_match_audiocraft(pair) -> None:
    model, ref = pair
    wav = model.decode(ref["decode_codes"])
    assert wav.shape == ref["wav"].shape
    assert ref["wav"].abs().max() > 1e-3  # not a silent decoder
    torch.testing.assert_close(wav, ref["wav"], atol=ATOL, rtol=0)
    assert torch.equal(model.encode(ref["wav_in"]), ref["encoded"])


def test_long_generation_continues_from_the_first_window(pair) -> None:
    model, _ = pair
    settings = dict(model.settings)
    model.settings = {**settings, "max_duration": 10 / model.frame_rate}  # a 10-frame window
    try:
        sampling = Sampling(top_k=8)
        long = model.generate_long(["rain"], 23, sampling, torch.Generator().manual_seed(5), extend_stride=0.1)
        first = model.generate(["rain"], 10, sampling, torch.Generator().manual_seed(5))
    finally:
        model.settings = settings
    assert long.shape == (1, model.n_q, 23)
    assert torch.equal(long[..., :10], first)


# Smoke renders through the registry --------------------------------------------------------------


def _render(options: dict, tmp_path: Path, seconds: float, seed: int, name: str) -> tuple[np.ndarray, dict]:
    backend = AUDIO.create("audiogen", options)
    take = backend.render(SoundRequest(prompt="glass shatters", seconds=seconds, seed=seed, kind="effect"),
                          tmp_path / name)
    samples, rate = read_wav(take.path)
    assert rate == take.sample_rate == 48000
    return samples, take.metadata


@pytest.mark.parametrize("seconds", [0.37, 0.5])
def test_smoke_render_is_48k_exact_length(audiogen_smoke, tmp_path: Path, seconds: float) -> None:
    samples, meta = _render(audiogen_smoke, tmp_path, seconds, seed=1, name="a.wav")
    assert samples.shape == (round(seconds * 48000), 1)
    assert np.abs(samples).max() > 0
    assert meta["license"] == "CC-BY-NC-4.0" and meta["backend"] == "audiogen" and meta["seed"] == 1
    assert meta["parameters"]["frames"] == int(np.ceil(seconds * 50))


def test_smoke_render_is_seed_deterministic(audiogen_smoke, tmp_path: Path) -> None:
    a, _ = _render(audiogen_smoke, tmp_path, 0.3, seed=4, name="a.wav")
    b, _ = _render(audiogen_smoke, tmp_path, 0.3, seed=4, name="b.wav")
    c, _ = _render(audiogen_smoke, tmp_path, 0.3, seed=5, name="c.wav")
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_conversion_runs_once_and_is_reused(audiogen_smoke, tmp_path: Path, monkeypatch) -> None:
    import generators.audiogen_convert as convert

    calls: list[Path] = []
    real = convert.write_converted
    monkeypatch.setattr(convert, "write_converted", lambda *a: (calls.append(a[2]), real(*a))[1])
    options = {**audiogen_smoke, "cache_dir": str(tmp_path / "cache")}
    first, second = AudioGenAudio(options), AudioGenAudio(options)
    first.load()
    second.load()
    assert len(calls) == 1
    assert (first.converted.reused, second.converted.reused) == (False, True)
    assert first.converted.path == second.converted.path
    assert (first.converted.path / "lm" / "model.safetensors").exists()


def test_license_is_exposed_for_doctor() -> None:
    assert AudioGenAudio.license == "CC-BY-NC-4.0"
    described = AudioGenAudio().describe()
    assert described["license"] == "CC-BY-NC-4.0" and described["model"] == "facebook/audiogen-medium"


# Errors ------------------------------------------------------------------------------------------


def test_uncached_hub_model_is_model_unavailable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backend = AudioGenAudio({"model": "facebook/audiogen-medium", "cache_dir": str(tmp_path)})
    with pytest.raises(ModelUnavailable) as err:
        backend.load()
    assert "\n" not in str(err.value) and "audiogen-medium" in str(err.value)


def test_folder_without_checkpoint_files_is_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="compression_state_dict.bin"):
        AudioGenAudio({"model": str(tmp_path)}).checkpoint_dir()


def test_missing_torch_names_the_ml_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingDependency, match=r"briefcut\[ml\]"):
        AudioGenAudio().load()


def test_unsupported_lm_config_is_refused() -> None:
    cfg = lm_xp_cfg(dim=32, num_heads=2, num_layers=2, n_q=4, card=32, hidden_scale=2)
    assert lm_settings(cfg)["n_q"] == 4
    cfg["codebooks_pattern"]["modeling"] = "parallel"
    cfg["transformer_lm"]["positional_embedding"] = "rope"
    with pytest.raises(UnsupportedCheckpoint, match="codebooks_pattern must be delay; positional_embedding must be sin"):
        lm_settings(cfg)


def test_build_smoke_is_idempotent(audiogen_smoke) -> None:
    root = Path(audiogen_smoke["model"]).parents[1]
    before = (Path(audiogen_smoke["model"]) / "state_dict.bin").stat().st_mtime_ns
    assert build_smoke(root) == audiogen_smoke
    assert (Path(audiogen_smoke["model"]) / "state_dict.bin").stat().st_mtime_ns == before


# Checkpoints pickled with more than tensors ---------------------------------------------------------


def test_dictconfig_checkpoint_loads_without_running_its_code(audiocraft_reference, tmp_path: Path) -> None:
    """xp.cfg as a pickled omegaconf DictConfig (torch >= 2.6 weights_only refuses it): read through the
    allowlist, it converts to the very weights and settings of the YAML package."""
    from safetensors.torch import load_file

    from generators.audiogen_convert import package_config, read_package

    yaml_dir, dict_dir = audiocraft_reference["toy_dir"], audiocraft_reference["dictconfig_dir"]
    with pytest.raises(Exception, match="omegaconf"):  # what torch's own safe loading says
        torch.load(dict_dir / "state_dict.bin", weights_only=True)
    for name in ("state_dict.bin", "compression_state_dict.bin"):
        assert package_config(read_package(dict_dir / name)) == package_config(read_package(yaml_dir / name))
    a, b = convert_checkpoint(yaml_dir, tmp_path / "a"), convert_checkpoint(dict_dir, tmp_path / "b")
    assert a.manifest()["settings"] == b.manifest()["settings"]
    wa, wb = load_file(a.path / "lm" / "model.safetensors"), load_file(b.path / "lm" / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_hostile_checkpoint_is_refused_and_named(tmp_path: Path) -> None:
    import os

    from generators.audiogen_convert import read_package

    marker = tmp_path / "ran"

    class Hostile:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    folder = tmp_path / "ckpt"
    folder.mkdir()
    torch.save({"best_state": {}, "xp.cfg": Hostile()}, folder / "state_dict.bin")
    torch.save({"best_state": {}, "xp.cfg": "{}"}, folder / "compression_state_dict.bin")
    with pytest.raises(ModelUnavailable) as info:
        read_package(folder / "state_dict.bin")
    assert str(folder / "state_dict.bin") in str(info.value) and "posix.system" in str(info.value)
    with pytest.raises(ModelUnavailable, match="state_dict.bin"):
        AudioGenAudio({"model": str(folder), "cache_dir": str(tmp_path / "cache")}).load()
    assert not marker.exists()  # nothing in the file ran
