"""The built-in synthetic dataset: generated from a seed, no download (tests run offline)."""

from segnas.data.builtin.scene import Scene, render_scene
from segnas.data.builtin.settings import (
    CLASS_NAMES,
    GENERATOR_VERSION,
    KEYPOINT_NAMES,
    NUM_CLASSES,
    PALETTE,
    BuiltinSettings,
)
from segnas.data.builtin.source import BuiltinSource, default_cache_root, generate

__all__ = [
    "CLASS_NAMES",
    "GENERATOR_VERSION",
    "KEYPOINT_NAMES",
    "NUM_CLASSES",
    "PALETTE",
    "BuiltinSettings",
    "BuiltinSource",
    "Scene",
    "default_cache_root",
    "generate",
    "render_scene",
]
