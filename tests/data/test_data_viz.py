"""Mask colouring shared with ``segnas predict``."""

from __future__ import annotations

import numpy as np

from segnas.data import colorize, make_palette, overlay


def test_voc_palette_matches_the_official_colours():
    palette = make_palette(21)
    assert palette[:4].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert palette[20].tolist() == [0, 64, 128]


def test_colorize_and_overlay():
    palette = np.array([[0, 0, 0], [200, 100, 0]], np.uint8)
    mask = np.array([[0, 1], [255, 7]], np.uint8)
    colours = colorize(mask, palette)
    assert colours.tolist() == [[[0, 0, 0], [200, 100, 0]], [[255, 255, 255], [255, 255, 255]]]
    image = np.full((2, 2, 3), 100, np.uint8)
    blended = overlay(image, mask, palette, alpha=0.5)
    assert blended.dtype == np.uint8
    assert blended[0, 1].tolist() == [150, 100, 50] and blended[0, 0].tolist() == [50, 50, 50]
    assert overlay(image, mask, palette, alpha=0.0).tolist() == image.tolist()
