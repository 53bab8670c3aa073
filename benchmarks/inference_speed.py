"""CPU inference latency of the final designs: plain PyTorch against segnas's runtime model.

Issue-6 protocol: batch 1, 512x512, eval mode, warm-up, then timed forward passes; full-size
logits (the decoder's output upsampled to the input). Per design, side by side in one run:
- plain: `net.for_inference()` + `F.interpolate`, NCHW, batch norm as its own layer (what a
  straightforward implementation runs, as the authors' does),
- each runtime rewrite of `segnas.final.inference.InferenceNet` on its own, then all together,
and torchvision's LRASPP- and DeepLabV3-MobileNetV3-Large for scale.

    python benchmarks/inference_speed.py [--size 512] [--runs 30] [--threads 2]
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torchvision.models.segmentation import (
    deeplabv3_mobilenet_v3_large,
    lraspp_mobilenet_v3_large,
)

from segnas.devices import tune_cpu
from segnas.final.bench import benchmark
from segnas.final.inference import InferenceNet, PlainNet
from segnas.final.recipe import FinalTrainSettings
from segnas.genotype import KNOWN_DESIGNS
from segnas.space.builder import build_network

# The authors' implementation on this machine (issue 6): 2 threads, 512x512, ms per pass.
AUTHORS_MS = {"arch0": 276.0, "arch1": 192.0, "arch2": 198.0}
VARIANTS = {
    "fold": dict(fold_bn=True, space_to_batch=False, channels_last=False),
    "space-to-batch": dict(fold_bn=False, space_to_batch=True, channels_last=False),
    "channels-last": dict(fold_bn=False, space_to_batch=False, channels_last=True),
    "all (segnas)": dict(fold_bn=True, space_to_batch=True, channels_last=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--classes", type=int, default=21)
    args = parser.parse_args()
    tune_cpu()
    torch.set_num_threads(args.threads)
    size = (args.size, args.size)

    def ms(module: nn.Module) -> tuple[float, float]:
        result = benchmark(module, size, "cpu", args.runs, args.warmup)
        return result.mean_ms, result.std_ms

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size}x{args.size}")
    lraspp = ms(lraspp_mobilenet_v3_large(weights=None, weights_backbone=None))
    deeplab = ms(deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, aux_loss=False))
    print(f"{'model':22} {'ms':>8} {'std':>6} {'vs plain':>9} {'vs authors':>11} {'vs LRASPP':>10}")
    print(f"{'LRASPP-MobileNetV3':22} {lraspp[0]:8.1f} {lraspp[1]:6.1f}")
    print(f"{'DeepLabV3-MobileNetV3':22} {deeplab[0]:8.1f} {deeplab[1]:6.1f}")
    for name, genotype in KNOWN_DESIGNS.items():
        decoder = FinalTrainSettings().decoder
        net = build_network(genotype, args.classes, decoder, weights=None).eval()
        plain = ms(PlainNet(net))
        rows = [("plain", plain)] + [
            (variant, ms(InferenceNet(net, **flags))) for variant, flags in VARIANTS.items()
        ]
        for variant, (mean, std) in rows:
            print(
                f"{name + ' ' + variant:22} {mean:8.1f} {std:6.1f} {plain[0] / mean:8.2f}x "
                f"{AUTHORS_MS[name] / mean:10.2f}x {lraspp[0] / mean:9.2f}x"
            )


if __name__ == "__main__":
    main()
