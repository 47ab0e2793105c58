import torch
from safetensors.torch import load_file

from cosmos_nb_utils.tiny_model import SPECIAL_TOKENS, build_tiny_model


def test_build_is_fast_small_and_deterministic(tmp_path):
    a = build_tiny_model(tmp_path / "a")
    b = build_tiny_model(tmp_path / "b")
    assert (a / "model.safetensors").stat().st_size < 2 * 2**20
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert (a / "tokenizer.json").read_text() == (b / "tokenizer.json").read_text()


def test_config_ids_match_tokenizer(tiny):
    model, processor = tiny
    tok = processor.tokenizer
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    assert len(set(ids.values())) == len(SPECIAL_TOKENS)
    assert model.config.video_token_id == ids["<|video_pad|>"]
    assert model.config.image_token_id == ids["<|image_pad|>"]
    assert model.config.vision_start_token_id == ids["<|vision_start|>"]
    # special tokens stay whole when they appear in text
    assert tok("<|im_start|>user\n<|video_pad|>")["input_ids"][0] == ids["<|im_start|>"]
    assert model.config.vision_config.tokens_per_second == 2  # as in Cosmos-Reason1-7B


def test_chat_template_has_qwen_layout(tiny):
    _, processor = tiny
    messages = [{"role": "user", "content": [{"type": "video", "video": "x.mp4"}, {"type": "text", "text": "Why?"}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>Why?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
