"""Depth maps for image files: a colour-mapped picture and 16-bit millimetres per image."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from segnas.data.source import Sample
from segnas.data.transforms import EvalTransform
from segnas.data.viz import colorize_depth
from segnas.final.depth_eval import predict_depth
from segnas.tasks.depth import DepthTask

DEPTH_OUTPUTS = ("depth", "depth16")
"""Files written per image: `<name>_depth.png` (colour map, near = bright), `<name>_depth16.png`
(uint16 millimetres, as Kinect-style datasets store depth; values beyond 65.535 m saturate)."""


def predict_depth_map(
    net: nn.Module,
    image: np.ndarray,
    task: DepthTask,
    device: torch.device,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float32 metres, normalised exactly as `EvalTransform`."""
    blank = np.zeros(image.shape[:2], np.float32)
    pixels, _ = EvalTransform(target="depth")(Sample("input", image, None, depth=blank))
    depth = predict_depth(net.eval(), pixels[None].to(device), task, scales, flip)
    return depth[0].float().cpu().numpy()


def millimetres(depth: np.ndarray) -> np.ndarray:
    """Metres -> uint16 millimetres, rounded, clipped to 0..65535 (0 stays "no depth")."""
    return np.clip(np.rint(np.nan_to_num(depth, nan=0.0) * 1000), 0, 65535).astype(np.uint16)


def write_depth_prediction(out_dir: Path, name: str, depth: np.ndarray) -> dict[str, Path]:
    """Write the two PNGs of one image; returns them by kind (`DEPTH_OUTPUTS`)."""
    paths = {kind: out_dir / f"{name}_{kind}.png" for kind in DEPTH_OUTPUTS}
    Image.fromarray(colorize_depth(depth)).save(paths["depth"])
    Image.fromarray(millimetres(depth)).save(paths["depth16"])  # 16-bit grey
    return paths
