import builtins

import pytest
import torch

from cosmos_nb_utils import loading
from cosmos_nb_utils.loading import ModelLoadError, default_model, load_model
from cosmos_nb_utils.memory import quantized_modules


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
    ids = processor.tokenizer("hello", return_tensors="pt")
    out = small.generate(**ids, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 3


def test_offline_hub_model_gives_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="hf download nvidia/Cosmos-Reason1-7B"):
        load_model("cosmos", "fp32", allow_cpu=True)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")
def test_7b_without_gpu_is_refused():
    with pytest.raises(ModelLoadError, match="No CUDA GPU"):
        load_model("nvidia/Cosmos-Reason1-7B")


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
