"""Load Cosmos-Reason1-7B (or the base Qwen2.5-VL, a local folder, or the tiny model) in 4 bit or 16 bit."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import torch

from .facts import ModelFacts, model_facts, quantized_modules
from .memory import GIB, weight_footprints

COSMOS = "nvidia/Cosmos-Reason1-7B"
QWEN_BASE = "Qwen/Qwen2.5-VL-7B-Instruct"
TINY = "tiny"
ALIASES = {"cosmos": COSMOS, "qwen": QWEN_BASE, "base": QWEN_BASE}
QUANTIZATIONS = ("auto", "nf4", "int8", "bf16", "fp16", "fp32", "none")
# GPU memory a question needs beyond the weights, CUDA context included: a round figure
# below what the course's clips measured (benchmarks/RESULTS.md, "GPU in use at peak" minus
# "weights"). Used only to refuse hopeless cards early.
RUNTIME_HEADROOM_GIB = 1.5


class ModelLoadError(RuntimeError):
    """The model cannot be loaded here; the message says what to do."""


def default_model() -> str:
    """``$COSMOS_NB_MODEL`` if set, else Cosmos-Reason1-7B on a CUDA GPU and the tiny model without one."""
    chosen = os.environ.get("COSMOS_NB_MODEL", "").strip()
    if chosen:
        return _canonical(chosen)
    return COSMOS if torch.cuda.is_available() else TINY


def _canonical(model_id: str) -> str:
    """A model id with the course's aliases (``cosmos``, ``qwen``, ``base``, ``tiny``, any case) resolved."""
    key = model_id.strip().lower()
    return TINY if key == TINY else ALIASES.get(key, model_id.strip())


def is_tiny(model_id: str) -> bool:
    return model_id == TINY


def default_compute_dtype(device: str | None = None) -> torch.dtype:
    """bf16 on GPUs that have it (compute capability 8.0+), fp16 on older ones (T4), fp32 on CPU."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.float32
    return torch.bfloat16 if torch.cuda.get_device_capability()[0] >= 8 else torch.float16


def quantization_config(quantization: str, dtype: torch.dtype, *, keep_vision: bool = True):
    """The ``BitsAndBytesConfig`` for ``nf4`` or ``int8`` (``None`` for 16/32-bit loading).

    Module names follow transformers 5's layout: the vision tower is ``model.visual``
    (skipping ``"visual"`` alone leaves it quantized).
    """
    if quantization not in ("nf4", "int8"):
        return None
    try:
        import bitsandbytes  # noqa: F401
        from transformers import BitsAndBytesConfig
    except ImportError:
        raise ModelLoadError(
            "4-bit and 8-bit loading need bitsandbytes: run `pip install bitsandbytes` "
            "(the course pins its version in pyproject.toml), then restart the kernel."
        ) from None
    skip = ["lm_head"] + (["model.visual"] if keep_vision else [])
    if quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
        llm_int8_skip_modules=skip,
    )


def resolve_quantization(quantization: str, device: str) -> str:
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
    if quantization == "auto":
        return "nf4" if device == "cuda" else "none"
    return quantization


def _check_gpu_fits(quantization: str, keep_vision: bool) -> None:
    """Refuse early, with advice, when the weights alone would not leave room for a question."""
    total = torch.cuda.get_device_properties(0).total_memory / GIB
    key = {"nf4": "nf4 + double quant", "int8": "int8"}.get(quantization, "bf16")
    need = weight_footprints(keep_vision=keep_vision)[key] + RUNTIME_HEADROOM_GIB
    if total < need:
        raise ModelLoadError(
            f"This GPU has {total:.1f} GiB; the 7B in {quantization} needs about {need:.1f} GiB. "
            "Use quantization='nf4' (fits an 8 GB card), or the tiny model (COSMOS_NB_MODEL=tiny) "
            "to run the code without a big GPU."
        )


def run_vision_in_fp32(model) -> None:
    """Compute ``model``'s vision encoder in float32, the guard against float16 overflow on cards without bf16.

    4-bit layers keep their 4-bit weights and compute in float32; other vision
    weights (16-bit layers, norms, biases, the patch embedding) become float32.
    The features are cast back to the language model's dtype where it reads them.
    """
    for module in model.model.visual.modules():
        if type(module).__name__ == "Linear4bit":
            module.compute_dtype = torch.float32
        for name, param in module.named_parameters(recurse=False):
            if param.is_floating_point() and param.dtype != torch.float32:
                setattr(module, name, torch.nn.Parameter(param.data.float(), requires_grad=False))
    model.cosmos_nb_facts = replace(model_facts(model), vision_fp32=True)


def _not_available(model_id: str, exc: Exception) -> ModelLoadError:
    return ModelLoadError(
        f"Could not load {model_id!r}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}\n"
        f"If the weights are not downloaded yet, on a machine with internet run\n"
        f"    hf download {model_id}\n"
        "(about 16 GB, once), or set COSMOS_NB_MODEL to a local folder holding them, "
        "or COSMOS_NB_MODEL=tiny to run the course's code on a tiny random model."
    )


def load_model(
    model: str | os.PathLike | None = None,
    quantization: str = "auto",
    *,
    keep_vision_unquantized: bool = False,
    compute_dtype: torch.dtype | None = None,
    vision_fp32: bool | None = None,
    allow_cpu: bool = False,
    device: str | None = None,
    adapter: str | os.PathLike | None = None,
):
    """Load a Qwen2.5-VL-family model and its processor; returns ``(model, processor)``.

    ``model``: a hub id, a local folder, ``"cosmos"``, ``"qwen"`` or ``"tiny"``
    (default: :func:`default_model`). ``quantization``: ``"nf4"`` (the article's
    recipe: nf4 with double quantization), ``"int8"``, ``"bf16"``/``"fp16"``/``"fp32"``
    (none), or ``"auto"`` (nf4 on a CUDA GPU, none on CPU). The compute dtype
    follows the GPU (bf16 on 8.0+, fp16 on a T4) unless ``compute_dtype`` forces one.
    By default the vision encoder is quantized too (what fits an 8 GB card, see
    benchmarks/RESULTS.md); ``keep_vision_unquantized=True`` keeps it in 16 bit
    (more memory, same file), and that is checked on the loaded model.
    ``vision_fp32=True`` computes the vision encoder in float32 (:func:`run_vision_in_fp32`);
    the default, ``None``, does so when the compute dtype is float16 on a GPU (the T4 path),
    where float16 can overflow. ``device``: ``"cuda"`` or ``"cpu"`` (default: the GPU if
    there is one). ``adapter``: a LoRA adapter folder saved by ``python -m cosmos_nb_utils.finetune``
    (its ``--out-dir``, or the ``adapter`` folder in it), applied over the loaded weights with peft.
    What was loaded is recorded once on the model: read it with :func:`model_facts`.
    """
    from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

    from .tiny_model import tiny_model_path

    if model is not None and (not isinstance(model, str | os.PathLike) or not str(model).strip()):
        raise ValueError(
            f"model must be a hub id, a local folder, or one of 'cosmos', 'qwen', 'tiny'; got {model!r}. "
            "Leave it out to use the course's default (COSMOS_NB_MODEL, else Cosmos-Reason1-7B on a GPU)."
        )
    model_id = _canonical(str(model)) if model is not None else default_model()
    tiny = is_tiny(model_id)
    adapter_dir = find_adapter(adapter) if adapter is not None else None  # a bad path fails before any loading
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cuda", "cpu"):
        raise ValueError(f"device must be 'cuda' or 'cpu', got {device!r}")
    quantization = resolve_quantization(quantization, device)
    if device == "cpu" and not tiny and not allow_cpu:
        raise ModelLoadError(
            f"No CUDA GPU found, and {model_id} needs one (on a CPU one answer takes many minutes). "
            "On Colab choose Runtime > Change runtime type > T4 GPU; or set COSMOS_NB_MODEL=tiny "
            "to run every cell on the tiny random model; or pass allow_cpu=True if you really mean it."
        )
    dtype = compute_dtype or default_compute_dtype(device)
    if quantization in ("bf16", "fp16", "fp32"):
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[quantization]
    if device == "cuda" and not tiny:
        _check_gpu_fits(quantization, keep_vision_unquantized)
    path = tiny_model_path() if tiny else model_id
    kwargs = {
        "dtype": dtype,
        "device_map": {"": 0} if device == "cuda" else "cpu",
        "quantization_config": quantization_config(quantization, dtype, keep_vision=keep_vision_unquantized),
    }
    try:
        llm = Qwen2_5_VLForConditionalGeneration.from_pretrained(path, **kwargs)
        processor = AutoProcessor.from_pretrained(path)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        raise ModelLoadError(
            "The GPU ran out of memory while loading. Restart the kernel to free any model already "
            "loaded, then use quantization='nf4'."
        ) from None
    except (OSError, ValueError) as exc:
        local_folder = Path(model_id).exists() and "does not appear to have" not in str(exc)
        if tiny or local_folder:  # a real error in files we have: show it as it is
            raise
        raise _not_available(model_id, exc) from None
    llm.eval()
    llm.cosmos_nb_facts = ModelFacts(
        name=model_id, tiny=tiny, quantization=quantization, compute_dtype=dtype,
        vision_quantized=quantization in ("nf4", "int8") and not keep_vision_unquantized,
    )
    if vision_fp32 or (vision_fp32 is None and device == "cuda" and dtype == torch.float16):
        run_vision_in_fp32(llm)
    if adapter_dir is not None:
        llm = apply_adapter(llm, adapter_dir)
    if keep_vision_unquantized and quantization in ("nf4", "int8"):
        kinds = quantized_modules(llm)
        leaked = [n for n in kinds["4-bit"] + kinds["8-bit"] if ".visual." in f".{n}."]
        if leaked:
            raise RuntimeError(f"The vision tower was quantized despite keep_vision_unquantized: {leaked[:3]}")
    return llm, processor


ADAPTER_CONFIG = "adapter_config.json"  # what peft's save_pretrained writes next to the adapter weights


def find_adapter(path: str | os.PathLike) -> Path:
    """The adapter folder at ``path``: ``path`` itself, or the ``adapter`` folder in a fine-tuning ``--out-dir``.

    Raises :class:`ModelLoadError` naming the path and what to pass instead.
    """
    if not isinstance(path, str | os.PathLike) or not str(path).strip():
        raise ModelLoadError(f"adapter must be a folder saved by the fine-tuning command, got {path!r}.")
    folder = Path(path).expanduser()
    for candidate in (folder, folder / "adapter"):
        if (candidate / ADAPTER_CONFIG).is_file():
            return candidate
    what = "does not exist" if not folder.exists() else f"holds no {ADAPTER_CONFIG} (nor adapter/{ADAPTER_CONFIG})"
    raise ModelLoadError(
        f"No LoRA adapter at {folder}: it {what}. Pass the --out-dir of `python -m cosmos_nb_utils.finetune` "
        "(or its adapter/ folder) after at least one saved step, or leave adapter out to use the base weights."
    )


def check_adapter_fits(model, adapter_dir: Path) -> None:
    """Raise :class:`ModelLoadError` unless the adapter's weights match ``model``'s layers one for one.

    peft loads an adapter of another base quietly where it can: the layers the model lacks are dropped,
    the layers the adapter lacks keep their untrained init. Every adapted layer must exist with the
    shapes the adapter was trained on, and every layer its targets name must have weights in the file.
    """
    import re

    from safetensors import safe_open

    weights = adapter_dir / "adapter_model.safetensors"
    if not weights.is_file():
        raise ModelLoadError(f"{adapter_dir} holds {ADAPTER_CONFIG} but no adapter_model.safetensors: the adapter "
                             "was not saved completely. Use its out-dir's last checkpoint, or train again.")
    shapes = {}
    with safe_open(str(weights), "pt") as f:
        for key in f.keys():
            shapes[key] = tuple(f.get_slice(key).get_shape())
    modules = dict(model.named_modules())
    problems, adapted = [], set()
    for key, shape in shapes.items():
        match = re.fullmatch(r"base_model\.model\.(.+)\.lora_(A|B)\.weight", key)
        if not match:
            continue
        name, side = match.groups()
        layer = modules.get(name)
        if layer is None:
            if name not in adapted:
                problems.append(f"{name}: not in this model")
            adapted.add(name)
            continue
        adapted.add(name)
        want = (shape[0], layer.in_features) if side == "A" else (layer.out_features, shape[1])
        if shape != want:
            problems.append(f"{name}.lora_{side}: {list(shape)} in the adapter, {list(want)} in this model")
    targets = json.loads((adapter_dir / ADAPTER_CONFIG).read_text(encoding="utf-8")).get("target_modules")
    if isinstance(targets, str):
        named = {n for n, m in modules.items() if isinstance(m, torch.nn.Linear) and re.fullmatch(targets, n)}
        problems += [f"{n}: named by the adapter's targets, no weights in it" for n in sorted(named - adapted)]
    if problems:
        raise ModelLoadError(
            f"The adapter {adapter_dir} was not trained on this model ({model_facts(model).name}): "
            f"{len(problems)} layer(s) differ, e.g. " + "; ".join(problems[:3])
            + ". Load the base it was trained on (the --model of its fine-tuning run)."
        )


def apply_adapter(model, adapter_dir: str | os.PathLike, *, trainable: bool = False):
    """``model`` with the peft LoRA adapter of ``adapter_dir`` applied in place; returns the same model class.

    peft inserts the adapter's layers into ``model``'s own modules, so the returned object is the
    transformers model every course function expects (``ask``, ``run_benchmark``); its facts name the adapter.
    """
    from peft import PeftModel

    adapter_dir = find_adapter(adapter_dir)
    facts = model_facts(model)
    check_adapter_fits(model, adapter_dir)
    peft_model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable)
    base = peft_model.get_base_model()
    base.cosmos_nb_facts = replace(facts, adapter=str(adapter_dir))
    if not trainable:
        base.eval()
    return base


def free_gpu_memory() -> None:
    """Give back the GPU memory of models you deleted (``del model`` first: this cannot drop your names)."""
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
