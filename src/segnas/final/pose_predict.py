"""`segnas predict` for pose models: keypoints of the person filling each image, drawn as a
skeleton over the image and written as JSON.

Without a person detector the whole image is the person's box (the crop rule of training then
widens and pads it); on photos with several people, crop each person first.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import nn

from segnas.data.pose import keypoint_palette, skeleton_for
from segnas.data.pose_transforms import PoseEvalTransform
from segnas.data.source import Sample
from segnas.final.pose_eval import predict_heatmaps
from segnas.tasks.pose import PoseTask
from segnas.tasks.pose_heatmaps import decode_heatmaps, to_image_coordinates

LINE = (255, 255, 255)


def predict_keypoints(
    net: nn.Module,
    image: np.ndarray,
    task: PoseTask,
    input_size: int,
    device: torch.device | str = "cpu",
    flip: bool = False,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (K, 3) float32 rows (x, y, peak score) in image pixels."""
    height, width = image.shape[:2]
    k = task.settings.num_keypoints
    sample = Sample(
        "input",
        image,
        None,
        keypoints=np.zeros((k, 3), np.float32),
        box=np.array([0, 0, width, height], np.float32),
    )
    s = task.settings
    transform = PoseEvalTransform(input_size, s.flip_pairs, aspect=s.aspect)
    crop, _ = transform(sample)
    net.eval().to(device)
    maps = predict_heatmaps(net, crop[None].to(device), task, flip).cpu()
    coords, peaks = decode_heatmaps(maps, s.stride)
    points = to_image_coordinates(coords[0], transform.affine(sample))
    return np.concatenate([points, peaks[0].numpy()[:, None]], axis=1).astype(np.float32)


def draw_skeleton(image: np.ndarray, keypoints: np.ndarray, min_score: float = 0.0) -> Image.Image:
    """The image with the limbs (white) and each keypoint (its palette colour) drawn; points
    whose peak score is at most `min_score` are left out with their limbs."""
    picture = Image.fromarray(image).convert("RGB")
    draw = ImageDraw.Draw(picture)
    radius = max(1.5, min(picture.size) / 80)
    shown = keypoints[:, 2] > min_score
    for a, b in skeleton_for(len(keypoints)):
        if shown[a] and shown[b]:
            draw.line([tuple(keypoints[a, :2]), tuple(keypoints[b, :2])], fill=LINE, width=1)
    palette = keypoint_palette(len(keypoints))
    for k, (x, y, _) in enumerate(keypoints.tolist()):
        if shown[k]:
            colour = tuple(int(c) for c in palette[k])
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    return picture


def write_pose_prediction(
    out_dir: Path, name: str, image: np.ndarray, keypoints: np.ndarray, names: list[str]
) -> dict[str, Path]:
    """<name>_pose.png (the skeleton drawn) and <name>_keypoints.json (x, y, score per joint)."""
    files = {"pose": out_dir / f"{name}_pose.png", "keypoints": out_dir / f"{name}_keypoints.json"}
    draw_skeleton(image, keypoints).save(files["pose"])
    rows = {
        (names[k] if k < len(names) else str(k)): [round(float(v), 3) for v in row]
        for k, row in enumerate(keypoints)
    }
    files["keypoints"].write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return files
