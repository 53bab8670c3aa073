"""The model card written beside an exported file: what it is, how good, how fast, how made.

`FILE.card.json` is for tools (registries, deployment checks), `FILE.card.md` for people; both
come from one dictionary. Facts the model file does not hold read "not recorded", so a card
never suggests a figure that nobody measured.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

import segnas
from segnas.baselines import BaselineNet
from segnas.final.bench import model_cost
from segnas.final.export import DYNAMIC_AXES, INPUT_NAME, OUTPUT_NAME, ExportResult
from segnas.space.cost import measure_cost
from segnas.space.model_file import ModelMeta, SegmentationModel

NOT_RECORDED = "not recorded"
INFO_KEYS = ("metrics", "train_config", "dataset", "epochs")
"""What `ModelMeta.info` may tell about training; copied to the card as found."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _versions(fmt: str) -> dict[str, str]:
    versions = {"segnas": segnas.__version__, "torch": torch.__version__}
    if fmt == "onnx":
        import onnx
        import onnxruntime

        versions |= {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
    return versions


def _cost(net: SegmentationModel, size: int) -> tuple[int, int, int]:
    """(parameters, multiply-adds, output stride) as `segnas describe` and `bench` count them."""
    if isinstance(net, BaselineNet):
        params, madds = model_cost(net.for_inference(), (size, size), torch.device("cpu"))
        return params, madds, net.output_stride
    cost = measure_cost(net, (size, size))
    return cost.params, cost.madds, cost.output_stride


def _decoder(meta: ModelMeta) -> dict[str, Any]:
    """A found design's width and repeats, or what the model file says about a baseline."""
    if meta.baseline is not None:
        return meta.info.get("baseline") or {"baseline": meta.baseline}
    return {"channels": meta.channels, "repeats": meta.repeats}


def build_card(net: SegmentationModel, meta: ModelMeta, result: ExportResult) -> dict[str, Any]:
    """The card's content as JSON-able data."""
    settings = result.settings
    params, madds, output_stride = _cost(net, settings.size)
    export: dict[str, Any] = {
        "format": settings.format,
        "file": result.path.name,
        "sha256": sha256(result.path),
        "input": "image (B, 3, H, W) float32, ImageNet-normalised RGB",
        "output": "logits (B, K, H, W) float32 at the input size",
        "example_size": settings.size,
        "parity_tolerance": settings.tolerance,
        "parity_max_abs_error": result.parity,
        "rewrites": list(result.rewrites) or "none: the graph as trained",
    }
    if settings.format == "onnx":
        axes = {str(axis): name for axis, name in DYNAMIC_AXES.items()}
        export |= {"opset": settings.opset, "dynamic_axes": {INPUT_NAME: axes, OUTPUT_NAME: axes}}
    else:
        export |= {"opset": None, "dynamic_axes": "traced; checked at the sizes under parity"}
    latency: dict[str, Any] | str = NOT_RECORDED
    if result.latency is not None:
        latency = asdict(result.latency)
    return {
        "genotype": meta.baseline or str(meta.genotype_obj()),
        "encoder": meta.encoder,
        "task": meta.task,
        "task_options": meta.task_options,
        "num_classes": meta.num_classes,
        "class_names": meta.class_names or NOT_RECORDED,
        "decoder": _decoder(meta),
        "params": params,
        "params_in_file": result.params,
        "madds": madds,
        "madds_input_size": [settings.size, settings.size],
        "output_stride": output_stride,
        **{key: meta.info.get(key, NOT_RECORDED) for key in INFO_KEYS},
        "latency": latency,
        "export": export,
        "versions": _versions(settings.format),
    }


def _value(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return f"`{json.dumps(value)}`"
    return str(value)


def card_markdown(card: dict[str, Any]) -> str:
    """A short human-readable page with the same facts as the JSON card."""
    export, latency, decoder = card["export"], card["latency"], card["decoder"]
    if "baseline" in decoder:
        smp = " ".join(str(decoder.get(k, NOT_RECORDED)) for k in ("smp_class", "smp_version"))
        design = (
            f"the hand-designed baseline `{card['genotype']}` (segmentation_models_pytorch "
            f"{smp}, {decoder.get('decoder', NOT_RECORDED)})"
        )
    else:
        design = (
            f"the searched decoder `{card['genotype']}` "
            f"(C={decoder['channels']}, R={decoder['repeats']})"
        )
    if card.get("task") == "depth":
        scale = card.get("task_options", {}).get("scale")
        what = (
            f"Monocular depth: the output x is log depth relative to {scale} m, "
            f"depth = {scale} x exp(x) metres"
        )
    elif card.get("task") == "pose":
        options = card.get("task_options", {})
        what = (
            f"Pose: {options.get('num_keypoints')} keypoint heatmaps at the input's size "
            f"(trained at stride {options.get('stride', 4)} on Gaussian targets, sigma "
            f"{options.get('sigma', 2.0)} cells, and upsampled bilinearly); each keypoint is at "
            "its heatmap's maximum"
        )
    else:
        what = f"Semantic segmentation, {card['num_classes']} classes"
    lines = [
        f"# {export['file']}",
        "",
        f"{what}: {card['encoder']} encoder with {design}.",
        "",
        "| | |",
        "|---|---|",
        f"| parameters | {card['params']:,} ({card['params'] / 1e6:.3f} M) |",
        f"| multiply-adds at {card['madds_input_size'][0]}x{card['madds_input_size'][1]} | "
        f"{card['madds']:,} ({card['madds'] / 1e9:.3f} B) |",
        f"| output stride | {card['output_stride']} (logits "
        f"{'at' if card['output_stride'] == 1 else 'upsampled to'} the input size) |",
    ]
    if isinstance(latency, dict):
        h, w = latency["input_size"]
        lines.append(
            f"| latency at {h}x{w}, batch 1 | {latency['mean_ms']:.2f} ± {latency['std_ms']:.2f} "
            f"ms ({latency['runs']} runs, {latency['threads']} threads, {latency['device']}, "
            f"{latency['runtime']}) |"
        )
    else:
        lines.append(f"| latency | {latency} |")
    lines += [
        "",
        "## Classes",
        "",
        _value(card["class_names"]),
        "",
        "## Training",
        "",
        *(f"- {key}: {_value(card[key])}" for key in ("dataset", "epochs", "metrics")),
        f"- training config: {_value(card['train_config'])}",
        "",
        "## Export",
        "",
        *(f"- {key}: {_value(value)}" for key, value in export.items()),
        "",
        "## Versions",
        "",
        *(f"- {name} {version}" for name, version in card["versions"].items()),
        "",
    ]
    return "\n".join(lines)


def write_card(path: Path, card: dict[str, Any]) -> tuple[Path, Path]:
    """Write `PATH.card.json` and `PATH.card.md` beside the exported file; return both paths."""
    path = Path(path)
    json_path = path.with_name(path.name + ".card.json")
    md_path = path.with_name(path.name + ".card.md")
    json_path.write_text(json.dumps(card, indent=2) + "\n")
    md_path.write_text(card_markdown(card))
    return json_path, md_path


def read_card(path: Path) -> dict[str, Any] | None:
    """The JSON card written beside the exported file at `path`, or None when there is none."""
    json_path = Path(path).with_name(Path(path).name + ".card.json")
    if not json_path.is_file():
        return None
    try:
        return json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{json_path}: not a readable model card ({error})") from None
