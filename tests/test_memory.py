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


class _FakeCuda:
    """A present GPU, simulated: counts what was asked of which device."""

    def __init__(self, monkeypatch):
        import torch

        self.calls = []
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        for name in ("synchronize", "reset_peak_memory_stats"):
            monkeypatch.setattr(torch.cuda, name, lambda device=None, _n=name: self.calls.append((_n, device)))
        monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 3 * 2**30)
        monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda device=None: 4 * 2**30)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_gpu_peak_of_work_elsewhere_is_none_even_with_a_gpu_present(monkeypatch, device):
    import torch

    from cosmos_nb_utils.memory import track_gpu_peak

    fake = _FakeCuda(monkeypatch)
    with track_gpu_peak(torch.device(device)) as peak:
        pass
    assert (peak.allocated, peak.reserved) == (None, None)
    assert fake.calls == []  # the GPU's counters were not even touched


def test_gpu_peak_reads_the_named_cuda_device(monkeypatch):
    import torch

    from cosmos_nb_utils.memory import track_gpu_peak

    fake = _FakeCuda(monkeypatch)
    with track_gpu_peak("cuda:1") as peak:
        pass
    assert (peak.allocated, peak.reserved) == (3.0, 4.0)
    assert {d for _, d in fake.calls} == {torch.device("cuda:1")}


def test_gpu_peak_without_a_gpu_is_none(monkeypatch):
    import torch

    from cosmos_nb_utils.memory import track_gpu_peak

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in (None, "cuda:0", "cpu"):
        with track_gpu_peak(device) as peak:
            pass
        assert peak.allocated is None


def test_gpu_peak_refuses_a_device_it_cannot_read():
    from cosmos_nb_utils.memory import track_gpu_peak

    with pytest.raises(ValueError, match="device"), track_gpu_peak(3.5):
        pass


def test_ask_on_a_cpu_model_reports_no_gpu_peak_on_a_gpu_machine(tiny, make_clip, monkeypatch):
    """Issue 22.16: a CPU model on a machine with a GPU reported the idle GPU's 0.0 GiB as its peak."""
    from cosmos_nb_utils.generation import ask

    model, processor = tiny
    assert model.device.type == "cpu"
    clip = make_clip(fps=25, seconds=2)
    fake = _FakeCuda(monkeypatch)
    result = ask(model, processor, "What happens?", clip, seed=0, stream=False, max_new_tokens=4)
    assert result.peak_gpu_allocated_gib is None and result.peak_gpu_reserved_gib is None
    assert not [c for c in fake.calls if c[0] == "reset_peak_memory_stats"]
