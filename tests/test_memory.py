import pytest

from cosmos_nb_utils.memory import meta_model, parameter_groups, weight_footprints


@pytest.fixture(scope="module")
def groups():
    return parameter_groups(meta_model())


def test_7b_parameter_count(groups):
    total = sum(groups.values())
    assert 8.28e9 < total < 8.30e9  # Qwen2.5-VL-7B: 8.29 B parameters with the vision tower
    assert groups["lm_head"] == 152064 * 3584


def test_footprints_match_measured_bf16_and_order():
    fp = weight_footprints()
    # field notes: the bf16 7B measured 15.45 GiB of weights on an H100
    assert fp["bf16"] == pytest.approx(15.45, abs=0.02)
    assert fp["bf16"] > fp["int8"] > fp["nf4"] > fp["nf4 + double quant"]
    # quantizing the vision tower too saves its Linear layers' bytes
    assert weight_footprints(keep_vision=False)["nf4"] < fp["nf4"]
