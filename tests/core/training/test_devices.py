"""Several GPUs are a trainer setting: the device string reaches Ultralytics unchanged (DDP for "0,1") and the
reproducibility record names the GPUs asked for and their count."""

from __future__ import annotations

import pytest

from vision_assets.core.training.environment import environment_snapshot, requested_gpus, resolve_device
from vision_assets.defs.resources import TrainerResource
from vision_assets.defs.wiring import build_resources
from vision_assets.settings import Settings


@pytest.mark.parametrize("device, gpus", [("0,1", [0, 1]), ("0, 1 ,3", [0, 1, 3]), ("2", [2]), ("cuda:1", [1]),
                                          ("cpu", []), ("mps", [])])
def test_device_strings_name_their_gpus(device, gpus):
    assert requested_gpus(device) == gpus


def test_a_device_list_passes_through_unchanged_and_a_bad_one_is_refused():
    assert resolve_device("0,1") == "0,1" and resolve_device("cpu") == "cpu"
    assert TrainerResource(device="0,1").config().device == "0,1"
    assert build_resources(Settings.from_env({"VISION_DEVICE": "0,1"}))["trainer"].config().device == "0,1"
    with pytest.raises(ValueError, match="device 'gpu0'"):
        resolve_device("gpu0")


def test_the_record_counts_the_requested_gpus(monkeypatch):
    import torch

    assert environment_snapshot("cpu")["devices"] == [] and environment_snapshot("cpu")["device_count"] == 1
    # No GPU on this machine: what the record says on a 4-GPU host asked for two of them.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"gpu-model-{index}")
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 90100)
    record = environment_snapshot("1,3")
    assert (record["device"], record["devices"], record["device_count"], record["device_name"]) == \
        ("1,3", [1, 3], 2, "gpu-model-1")
