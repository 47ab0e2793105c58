"""The arithmetic notebooks 01 and 11 teach, checked here rather than in their teaching cells."""

import pytest

from cosmos_nb_utils.architecture import reason1_7b_config
from cosmos_nb_utils.memory import GIB, NF4_BYTES, NF4_DQ_BYTES, meta_model, parameter_groups, weight_footprints


@pytest.fixture(scope="module")
def groups():
    return parameter_groups(meta_model())


def test_double_quant_saving_by_hand_matches_the_footprints(groups):
    """01: 0.37 bits saved on each quantized weight, the language and vision Linear layers."""
    quantized = groups["language Linear layers"] + groups["vision Linear layers"]
    by_hand = quantized * (4.5 - 4.127) / 8 / GIB
    both = weight_footprints(keep_vision=False)
    assert by_hand == pytest.approx(both["nf4"] - both["nf4 + double quant"], abs=0.01)
    assert (NF4_BYTES * 8, round(NF4_DQ_BYTES * 8, 3)) == (4.5, 4.127)


def test_quantizing_lm_head_would_save_under_a_gib(groups):
    """01, exercise 1."""
    saved = groups["lm_head"] * (2 - 4.127 / 8) / GIB
    assert 0.7 < saved < 0.9


def test_static_cache_of_the_long_answer():
    """11, exercise 1: 28 layers x K and V x 4 heads x 128 x 2 bytes = 56 KiB a position; 7,669 positions."""
    text = reason1_7b_config().text_config
    head_dim = text.hidden_size // text.num_attention_heads
    per_position = text.num_hidden_layers * 2 * text.num_key_value_heads * head_dim * 2
    assert per_position == 56 * 1024
    assert per_position * (3573 + 4096) / GIB == pytest.approx(0.41, abs=0.01)
