import builtins

import pytest
import torch

from cosmos_nb_utils import loading
from cosmos_nb_utils.facts import quantized_modules
from cosmos_nb_utils.loading import ModelFacts, ModelLoadError, default_model, load_model, model_facts


def test_default_model_follows_env_and_hardware(monkeypatch):
    monkeypatch.delenv("COSMOS_NB_MODEL", raising=False)
    assert default_model() == ("nvidia/Cosmos-Reason1-7B" if torch.cuda.is_available() else "tiny")
    monkeypatch.setenv("COSMOS_NB_MODEL", "qwen")
    assert default_model() == "Qwen/Qwen2.5-VL-7B-Instruct"
    monkeypatch.setenv("COSMOS_NB_MODEL", "/models/mine")
    assert default_model() == "/models/mine"


def test_compute_dtype_cpu():
    assert loading.default_compute_dtype("cpu") == torch.float32


@pytest.mark.parametrize("quant", ["nf4", "int8"])
def test_quantized_tiny_can_keep_vision_in_16_bit(tiny_dir, quant):
    model, _ = load_model("tiny", quant, keep_vision_unquantized=True)
    kinds = quantized_modules(model)
    low = kinds["4-bit"] if quant == "nf4" else kinds["8-bit"]
    assert low and all(".language_model." in n for n in low)
    assert any(".visual." in n for n in kinds["16/32-bit Linear"])
    assert "lm_head" in kinds["16/32-bit Linear"]


def test_nf4_quantizes_vision_by_default(tiny_dir):
    model, _ = load_model("tiny", "nf4")
    kinds = quantized_modules(model)
    assert any(".visual." in n for n in kinds["4-bit"])
    assert kinds["16/32-bit Linear"] == ["lm_head"]


def test_nf4_tiny_is_smaller_and_still_generates(tiny, tiny_dir):
    full, processor = tiny
    small, _ = load_model("tiny", "nf4")
    assert small.get_memory_footprint() < full.get_memory_footprint()
    ids = processor.tokenizer("hello", return_tensors="pt").to(small.device)
    out = small.generate(**ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 3


def test_nf4_footprint_computed_from_the_architecture_matches_the_loaded_model(tiny_dir):
    """Notebook 01: the formula and get_memory_footprint agree within 3% (the latter leaves out the block scales)."""
    from cosmos_nb_utils.memory import meta_model, weight_footprints

    model, _ = load_model("tiny", "nf4", device="cpu")
    computed = weight_footprints(meta_model(model.config), keep_vision=False, kept_bytes=4)["nf4 + double quant"]
    measured = model.get_memory_footprint() / 2**30
    assert abs(measured - computed) / computed < 0.03


def test_offline_hub_model_gives_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="hf download nvidia/Cosmos-Reason1-7B"):
        load_model("cosmos", "fp32", allow_cpu=True, device="cpu")


def test_7b_without_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a machine without GPU, on any machine
    with pytest.raises(ModelLoadError, match="No CUDA GPU"):
        load_model("nvidia/Cosmos-Reason1-7B")
    with pytest.raises(ModelLoadError, match="No CUDA GPU"):
        load_model("nvidia/Cosmos-Reason1-7B", device="cpu")


def test_facts_are_recorded_once_by_load_model(tiny, tiny_dir):
    model, _ = tiny
    assert model_facts(model) == ModelFacts(name="tiny", tiny=True, quantization="none",
                                            compute_dtype=torch.float32, vision_quantized=False)
    small, _ = load_model("tiny", "nf4", device="cpu")
    facts = model_facts(small)
    assert (facts.tiny, facts.quantization, facts.vision_quantized) == (True, "nf4", True)
    with pytest.raises(AttributeError):
        facts.tiny = False  # frozen: one record of what was loaded


def test_facts_of_a_model_loaded_otherwise(tiny_dir):
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_dir)
    facts = model_facts(model)
    assert (facts.tiny, facts.quantization, facts.compute_dtype) == (False, "fp32", torch.float32)


def test_missing_bitsandbytes_is_explained(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "bitsandbytes":
            raise ImportError("no bitsandbytes")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ModelLoadError, match="pip install bitsandbytes"):
        loading.quantization_config("nf4", torch.float16)


def test_unknown_quantization_is_refused():
    with pytest.raises(ValueError, match="quantization must be one of"):
        load_model("tiny", "int3")
