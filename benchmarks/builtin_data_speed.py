"""How fast the built-in dataset is made and loaded (SPEC 5: thousands of 64x64 images in seconds).

    python benchmarks/builtin_data_speed.py [--count 2000] [--size 64]

Prints generation throughput without a cache, the time to open the cached split and read every
sample, and the training transform's throughput. Uses a fresh temporary cache folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from segnas.data import BuiltinSettings, BuiltinSource, SegmentationDataset, TrainTransform
from segnas.data.builtin.source import generate_arrays
from segnas.data.builtin.textures import photo_textures


def report(label: str, seconds: float, count: int | None = None) -> None:
    rate = f"  ({count / seconds:,.0f} samples/s)" if count else ""
    print(f"{label:<34}{seconds:8.3f} s{rate}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    config = BuiltinSettings(image_size=args.size, train_count=args.count)

    start = time.perf_counter()
    photo_textures()
    report("load scikit-image textures (once)", time.perf_counter() - start)

    start = time.perf_counter()
    generate_arrays(config, "train")
    report(
        f"generate {args.count} at {args.size}x{args.size}", time.perf_counter() - start, args.count
    )

    with tempfile.TemporaryDirectory() as folder:
        cache = Path(folder)
        start = time.perf_counter()
        BuiltinSource(config, "train", cache_dir=cache)
        report("first open (generate + save)", time.perf_counter() - start, args.count)

        start = time.perf_counter()
        source = BuiltinSource(config, "train", cache_dir=cache)
        report("cached open", time.perf_counter() - start)
        for i in range(len(source)):
            source[i]
        report("cached open + read every sample", time.perf_counter() - start, len(source))

        dataset = SegmentationDataset(source, TrainTransform(args.size), seed=0)
        start = time.perf_counter()
        for i in range(len(dataset)):
            dataset[i]
        report("train transform, every sample", time.perf_counter() - start, len(dataset))


if __name__ == "__main__":
    main()
