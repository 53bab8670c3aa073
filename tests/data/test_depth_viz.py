"""`colorize_depth`, shared with ``segnas predict``: missing pixels black, one scale on demand."""

from __future__ import annotations

import numpy as np

from segnas.data import colorize_depth
from segnas.data.viz import depth_range


def test_missing_pixels_are_black_and_the_rest_coloured():
    depth = np.array([[0.0, np.nan, 1.0], [2.0, 3.0, -np.inf]], np.float32)
    colours = colorize_depth(depth)
    assert colours.shape == (2, 3, 3) and colours.dtype == np.uint8
    assert (colours[0, :2] == 0).all() and (colours[1, 2] == 0).all()
    assert (colours[0, 2].max() > 0) and (colours[1, :2].max(axis=1) > 0).all()
    near, far = colours[0, 2].astype(int), colours[1, 1].astype(int)
    assert near[2] > near[0] and far[0] > far[2]  # turbo: near is blue, far is red


def test_shared_scale_and_degenerate_maps():
    depth = np.array([[1.0, 2.0]], np.float32)
    own = colorize_depth(depth)
    shared = colorize_depth(depth, vmin=1.0, vmax=4.0)
    assert (own[0, 0] == shared[0, 0]).all() and not (own[0, 1] == shared[0, 1]).all()
    assert (colorize_depth(np.zeros((2, 2), np.float32)) == 0).all()
    flat = colorize_depth(np.full((2, 2), 5.0, np.float32))
    assert (flat == flat[0, 0]).all() and flat.max() > 0
    assert depth_range(depth, np.array([[np.nan, 7.0]])) == (1.0, 7.0)
    assert depth_range(np.zeros((1, 1))) is None
