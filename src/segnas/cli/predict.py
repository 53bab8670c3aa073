"""`segnas predict`: colour masks, overlays and class-id images for image files and folders;
for a depth model, colour-mapped depth and 16-bit millimetre PNGs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from segnas.cli.options import (
    TRAINABLE_TASKS,
    add_device,
    add_scales_flip,
    add_settings,
    add_task,
    model_task,
    resolve_settings,
)
from segnas.data.io import read_image
from segnas.devices import resolve_device
from segnas.final.depth_predict import predict_depth_map, write_depth_prediction
from segnas.final.eval import class_names_for, load_checked
from segnas.final.pose_eval import pose_input_size
from segnas.final.pose_predict import predict_keypoints, write_pose_prediction
from segnas.final.predict import (
    PredictSettings,
    check_images,
    collect_images,
    output_names,
    palette_for,
    predict_classes,
    write_prediction,
)
from segnas.settings_io import dump_yaml, to_dict
from segnas.tasks import task_from_meta

SHORTCUTS = {"alpha": "alpha", "scales": "scales", "flip": "flip"}
"""Options that set a `PredictSettings` field (after --config, before --set)."""

INDEX_FILE = "predictions.json"
"""Written into the output folder: inputs, their output files, class names and palette."""


def _progress(label: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


OUTPUT_FILES = {
    "segmentation": "_mask.png, _overlay.png, _classes.png",
    "depth": "_depth.png, _depth16.png",
    "pose": "_pose.png, _keypoints.json",
}


def _index_extra(kind: str, names: list[str], palette) -> dict:
    """What predictions.json says about the outputs of a model of task `kind`."""
    if kind == "depth":
        return {"units": "depth16: millimetres (0 = none); depth: colour map, near = bright"}
    if kind == "pose":
        return {"keypoint_names": names, "units": "x, y in image pixels, peak score"}
    return {"class_names": names, "palette": palette.tolist()}


def cmd_predict(args: argparse.Namespace) -> int:
    settings = resolve_settings(PredictSettings, args, SHORTCUTS)
    device = resolve_device(args.device)
    out_dir: Path = args.output
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"-o {out_dir}: is a file, expected an output folder")
    console = Console()
    paths = collect_images(args.images)
    net, meta = load_checked(args.checkpoint, device)
    kind = model_task(args, meta, args.checkpoint)
    depth = kind == "depth"
    task = task_from_meta(meta)
    palette = palette_for(meta, str(args.checkpoint))
    names, _ = class_names_for(meta)
    with _progress("checking") as progress:
        bar = progress.add_task("images", total=len(paths))
        sizes = check_images(paths, on_image=lambda: progress.advance(bar))
    outputs = output_names(paths)
    for path, name in zip(paths, outputs):
        if name != path.stem:
            console.print(f"[yellow]note[/yellow]: {path} shares its stem; written as {name}_*")

    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    with _progress("predict") as progress:
        bar = progress.add_task("images", total=len(paths))
        for path, name, (h, w) in zip(paths, outputs, sizes):
            image = read_image(path)  # (H, W, 3) uint8
            if kind == "pose":
                keypoints = predict_keypoints(
                    net,
                    image,
                    task,  # type: ignore[arg-type]
                    pose_input_size(meta),
                    device,
                    settings.flip,
                )
                written = write_pose_prediction(out_dir, name, image, keypoints, names)
            elif depth:
                metres = predict_depth_map(
                    net,
                    image,
                    task,
                    device,
                    settings.scales,
                    settings.flip,  # type: ignore[arg-type]
                )
                written = write_depth_prediction(out_dir, name, metres)
            else:
                classes = predict_classes(net, image, device, settings.scales, settings.flip)
                written = write_prediction(out_dir, name, image, classes, palette, settings.alpha)
            entries.append(
                {
                    "input": str(path),
                    "size": [h, w],
                    **{kind: file.name for kind, file in written.items()},
                }
            )
            progress.advance(bar)
    index = {
        "checkpoint": str(args.checkpoint),
        "genotype": meta.genotype,
        "task": meta.task,
        "settings": to_dict(settings),
        **_index_extra(kind, names, palette),
        "images": entries,
    }
    (out_dir / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    dump_yaml(settings, out_dir / "predict.settings.yaml")
    files = OUTPUT_FILES[kind]
    console.print(f"{len(paths)} images -> {out_dir} (<name>{files}; index in {INDEX_FILE})")
    return 0


def add_predict_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="colour masks, overlays and class-id PNGs for images")
    p.add_argument("checkpoint", type=Path, help="segnas model file")
    p.add_argument(
        "images", nargs="+", help="image files and/or folders of images (png, jpg, bmp, webp)"
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    p.add_argument(
        "--alpha", type=float, default=None, help="colour weight in the overlay (default 0.5)"
    )
    add_scales_flip(p)
    add_task(p, default=None, default_help="the model file's task", choices=TRAINABLE_TASKS)
    add_settings(p, PredictSettings, example="alpha=0.3")
    add_device(p)
    p.set_defaults(func=cmd_predict)
