"""Space-to-batch: a rate-d convolution as an undilated one on the d x d interleaved sub-grids.

Output pixel (i, j) of a stride-1 'same' convolution with dilation d only reads input pixels
congruent to (i, j) modulo d, so the map splits into d * d sub-grids (pixel rows r, r + d, ...
and columns s, s + d, ...) that each go through the same kernel without dilation. oneDNN's
dilated depthwise kernels run at a few percent of the machine's speed on the CPU; undilated
ones on the sub-grids, stacked along the batch, do the same arithmetic much faster. Maps whose
size is not a multiple of d are padded with zeros at the end, which the original convolution's
own zero padding would have read there anyway.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class SubgridShape(NamedTuple):
    """What `from_subgrids` needs to undo `to_subgrids`."""

    batch: int
    height: int
    width: int
    sub_height: int
    sub_width: int
    channels_last: bool


def to_subgrids(x: torch.Tensor, d: int) -> tuple[torch.Tensor, SubgridShape]:
    """(B, C, H, W) -> (B d d, C, ceil(H / d), ceil(W / d)), keeping the memory format."""
    b, c, h, w = x.shape
    channels_last = c > 1 and x.is_contiguous(memory_format=torch.channels_last)
    pad_h, pad_w = (-h) % d, (-w) % d
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
    hs, ws = (h + pad_h) // d, (w + pad_w) // d
    # One copy; r, s index the sub-grid (the pixel's row and column modulo d).
    if channels_last:
        x = x.permute(0, 2, 3, 1).reshape(b, hs, d, ws, d, c)  # (B, hs, r, ws, s, C)
        x = x.permute(0, 2, 4, 1, 3, 5).reshape(b * d * d, hs, ws, c).permute(0, 3, 1, 2)
    else:
        x = x.reshape(b, c, hs, d, ws, d).permute(0, 3, 5, 1, 2, 4).reshape(b * d * d, c, hs, ws)
    return x, SubgridShape(b, h, w, hs, ws, channels_last)


def from_subgrids(y: torch.Tensor, d: int, shape: SubgridShape) -> torch.Tensor:
    """(B d d, C', hs, ws) -> (B, C', H, W): the inverse of `to_subgrids` for any channel count."""
    b, h, w, hs, ws, channels_last = shape
    co = y.shape[1]
    if channels_last:
        y = y.permute(0, 2, 3, 1).reshape(b, d, d, hs, ws, co)  # (B, r, s, hs, ws, C')
        y = y.permute(0, 3, 1, 4, 2, 5).reshape(b, hs * d, ws * d, co).permute(0, 3, 1, 2)
    else:
        y = y.reshape(b, d, d, co, hs, ws).permute(0, 3, 4, 1, 5, 2).reshape(b, co, hs * d, ws * d)
    return y[:, :, :h, :w] if hs * d != h or ws * d != w else y
