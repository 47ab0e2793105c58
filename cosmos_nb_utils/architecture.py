"""The Qwen2.5-VL configurations the course uses: the real 7B and a tiny twin.

Cosmos-Reason1-7B is a fine-tune of Qwen2.5-VL-7B-Instruct, so both share one
architecture. The numbers below are the public config of the 7B checkpoint;
they let us build the model on the ``meta`` device (no memory, no download) to
count parameters, or with random weights on a GPU to benchmark memory and speed.
"""

from __future__ import annotations

from transformers import Qwen2_5_VLConfig

# Token ids of Qwen's special tokens in the real vocabulary.
QWEN_SPECIAL_IDS = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
}


def reason1_7b_config() -> Qwen2_5_VLConfig:
    """Config of Cosmos-Reason1-7B (identical to Qwen2.5-VL-7B-Instruct)."""
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": 152064,
            "hidden_size": 3584,
            "intermediate_size": 18944,
            "num_hidden_layers": 28,
            "num_attention_heads": 28,
            "num_key_value_heads": 4,
            "max_position_embeddings": 128000,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1_000_000.0,
                "mrope_section": [16, 24, 24],
            },
            "bos_token_id": QWEN_SPECIAL_IDS["<|endoftext|>"],
            "eos_token_id": QWEN_SPECIAL_IDS["<|im_end|>"],
        },
        vision_config={
            "depth": 32,
            "hidden_size": 1280,
            "intermediate_size": 3420,
            "num_heads": 16,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "tokens_per_second": 2,
            "window_size": 112,
            "out_hidden_size": 3584,
            "fullatt_block_indexes": [7, 15, 23, 31],
        },
        image_token_id=QWEN_SPECIAL_IDS["<|image_pad|>"],
        video_token_id=QWEN_SPECIAL_IDS["<|video_pad|>"],
        vision_start_token_id=QWEN_SPECIAL_IDS["<|vision_start|>"],
        vision_end_token_id=QWEN_SPECIAL_IDS["<|vision_end|>"],
        tie_word_embeddings=False,
    )


def tiny_config(vocab_size: int, special_ids: dict[str, int]) -> Qwen2_5_VLConfig:
    """A 2-layer, hidden-64 (text and vision) Qwen2.5-VL with the 7B's patch, merge and timing rules.

    Patch size, spatial merge, temporal patch and tokens_per_second match the 7B,
    so the processor produces exactly the same number of visual tokens and the same
    temporal position ids as for the real model; only the widths shrink.
    """
    return Qwen2_5_VLConfig(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 32768,
            "rms_norm_eps": 1e-6,
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1_000_000.0,
                "mrope_section": [2, 3, 3],
            },
            "bos_token_id": special_ids["<|endoftext|>"],
            "eos_token_id": special_ids["<|im_end|>"],
            "pad_token_id": special_ids["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "tokens_per_second": 2,
            "window_size": 112,
            "out_hidden_size": 64,
            "fullatt_block_indexes": [1],
        },
        image_token_id=special_ids["<|image_pad|>"],
        video_token_id=special_ids["<|video_pad|>"],
        vision_start_token_id=special_ids["<|vision_start|>"],
        vision_end_token_id=special_ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
