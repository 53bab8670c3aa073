"""Exported artifacts (ONNX, TorchScript) with the same outputs as PyTorch at any input size.

The exported graph is `net.for_inference()` (no auxiliary heads, eval mode) followed by bilinear
upsampling to the input size, so it maps (B, 3, H, W) images to (B, K, H, W) logits as the
PyTorch model does. Rewrites keep it size-generic, exact and fast:

- `ShapeAwareConv2d` chooses its computation from the input's size in Python (trimmed taps, matrix
  products on tiny maps), which tracing would bake in. Plain `nn.Conv2d` modules with the same
  weights give the same output at every size: the trimmed taps only ever multiply zero padding.
- Batch norm is folded into the convolution before it, as `InferenceNet` does. ONNX Runtime
  left every batch norm of the exporter's unfolded graph in place (there each bias-less
  convolution gets a zero bias computed by an `Expand` node), and those keep the convolutions
  off its fast blocked-layout kernels: a 512x512 pass took 1.7-2.3x longer with batch norm
  left in (7 designs, `benchmarks/onnx_speed.py`). So the ONNX file stores the folded weights and
  biases: `params_in_file` on the card is that count, `params` the model's own (`segnas
  describe`). `--plain` (`ExportSettings.plain`) writes the graph as trained instead, batch norm
  unfolded, for tools that need the trained parameters themselves.
- Dilated depthwise convolutions stay as they are by default: ONNX Runtime's blocked-layout
  depthwise kernel takes dilation at about its undilated speed per tap, and running them on
  sub-grids there (`ExportSettings.subgrids`, `segnas.final.onnx_graph`) took 1.0-1.6x the
  time. TorchScript keeps the plain graph; `torch.jit.freeze` folds its batch norm when timed.

Every file is checked after writing: run in its own runtime at two input sizes (one non-square,
with batch 2) against PyTorch, and removed when it disagrees beyond the tolerance.

An ONNX file is one self-contained file: the weights are stored inside it, not in a `.data`
file beside it, so it can be copied alone. Protocol buffers cap such a file at 2 GiB; a model
too large for that is refused before anything is written.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from segnas.final.bench import time_passes
from segnas.final.inference import fold_batch_norms
from segnas.final.onnx_graph import graph_params, rewrite_file
from segnas.settings_io import require
from segnas.space.builder import SegmentationNet
from segnas.space.decoder import main_logits
from segnas.space.ops import ShapeAwareConv2d, conv_like

if TYPE_CHECKING:
    import onnxruntime

FORMATS = ("onnx", "torchscript")
DEFAULT_OPSET = 18
INPUT_NAME, OUTPUT_NAME = "image", "logits"
DYNAMIC_AXES = {0: "batch", 2: "height", 3: "width"}
"""Axes of both the input and the output that may change between calls (ONNX)."""

ONNX_MAX_BYTES = 2**31 - 1
"""Largest ONNX file with its weights inside: the protocol-buffer message size limit (2 GiB)."""
ONNX_GRAPH_MARGIN = 16 * 2**20
"""Room kept for the graph itself (nodes, names, shapes) beside the weights."""

Runner = Callable[[torch.Tensor], torch.Tensor]
"""Runs an exported file: (B, 3, H, W) CPU float tensor -> (B, K, H, W) CPU float tensor."""


class ParityError(ValueError):
    """An exported file whose outputs differ from PyTorch's beyond the tolerance."""


def plain_convolutions(module: nn.Module) -> int:
    """Swap every `ShapeAwareConv2d` for an `nn.Conv2d` with the same weights; return the count."""
    swapped = 0
    for parent in module.modules():
        for name, child in list(parent.named_children()):
            if isinstance(child, ShapeAwareConv2d):
                conv = conv_like(nn.Conv2d, child)
                setattr(parent, name, conv)
                swapped += 1
    return swapped


class ExportNet(nn.Module):
    """What gets exported: (B, 3, H, W) image -> (B, K, H, W) logits, size-generic.

    Built from a copy; the network passed in is left untouched. `fold_bn` folds batch norm
    into the convolutions (the deployed form); without it the trained parameters stay as they
    are.
    """

    def __init__(self, net: SegmentationNet, fold_bn: bool = False) -> None:
        super().__init__()
        self.net = net.for_inference()
        self.source_params = sum(p.numel() for p in self.net.parameters())
        """Parameters before folding: the model's size as `segnas describe` counts it."""
        self.rewritten = plain_convolutions(self.net)
        self.net.eval()  # the swapped-in convolutions too, before folding
        self.fold_bn = fold_bn
        self.folded = fold_batch_norms(self.net) if fold_bn else 0
        self.output_stride = self.net.output_stride
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, K, H, W)
        logits = main_logits(self.net(x))  # (B, K, H / stride, W / stride)
        if self.output_stride == 1:  # a baseline: logits already at the input size
            return logits
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


class ExportSizeError(ValueError):
    """A model whose weights do not fit in one self-contained ONNX file (2 GiB)."""


def state_bytes(model: nn.Module) -> int:
    """Bytes of every parameter and buffer: what an ONNX file stores as initializers."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def check_onnx_size(model: nn.Module, limit: int | None = None) -> None:
    """Refuse a model whose weights (plus room for the graph) exceed one ONNX file's limit."""
    limit = ONNX_MAX_BYTES if limit is None else limit
    weights = state_bytes(model)
    if weights + ONNX_GRAPH_MARGIN > limit:
        raise ExportSizeError(
            f"--format onnx: the model's weights take {weights / 2**20:,.0f} MiB, more than a "
            f"self-contained ONNX file can hold ({limit / 2**20:,.0f} MiB less "
            f"{ONNX_GRAPH_MARGIN // 2**20} MiB for the graph); export with --format torchscript"
        )


def export_onnx(model: ExportNet, path: Path, size: int, opset: int = DEFAULT_OPSET) -> None:
    """Write `model` as one ONNX file with dynamic batch, height and width (torch.export-based).

    The exporter's own graph optimiser runs when batch norm is already folded (it removes the
    computed zero biases and casts that ONNX Runtime would otherwise run); on a plain graph it
    is off, since it would fold batch norm and the file would no longer hold the parameters as
    trained. External data is off: the weights go inside the file, not into a `.data` file.
    """
    check_onnx_size(model)
    example = torch.zeros(1, 3, size, size)  # (1, 3, S, S)
    dims = {axis: torch.export.Dim(name) for axis, name in DYNAMIC_AXES.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.cpu(),
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes={"x": dims},
            opset_version=opset,
            dynamo=True,
            optimize=model.fold_bn,
            external_data=False,
            verbose=False,
        )


def external_data_path(path: Path) -> Path:
    """Where an ONNX exporter would put weights kept outside the file (`FILE.onnx.data`)."""
    return path.with_name(path.name + ".data")


def check_self_contained(path: Path, limit: int | None = None) -> None:
    """Refuse an ONNX file that refers to weights outside itself or exceeds the size limit."""
    import onnx

    limit = ONNX_MAX_BYTES if limit is None else limit
    size = path.stat().st_size
    if size > limit:
        raise ExportSizeError(f"{path}: {size:,} bytes, above the ONNX limit of {limit:,}")
    outside = [
        init.name
        for init in onnx.load(str(path), load_external_data=False).graph.initializer
        if init.data_location == onnx.TensorProto.EXTERNAL
    ]
    if outside:
        raise ExportSizeError(f"{path}: weights stored outside the file: {', '.join(outside)}")


def export_torchscript(model: ExportNet, path: Path, size: int) -> None:
    """Write `model` as traced TorchScript.

    Tracing records sizes as graph values (`x.shape` feeds the upsampling), and with plain
    convolutions no branch depends on the input's size except `resize_to`'s equal-size test,
    whose outcome depends only on the two maps' strides; `check_parity` confirms it at a
    second size.
    """
    example = torch.zeros(1, 3, size, size)  # (1, 3, S, S)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model.cpu(), example, check_trace=False)
    torch.jit.save(traced, str(path))


def onnx_providers(device: torch.device) -> list[str]:
    """ONNX Runtime's CUDA provider for a CUDA device when installed, else the CPU one."""
    import onnxruntime

    if device.type == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def onnx_session(
    path: Path, threads: int, device: torch.device | str = "cpu"
) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session on `path` with `threads` intra-op threads and one inter-op.

    Its threads spin while idle only when OpenMP's do (`OMP_WAIT_POLICY=ACTIVE`; segnas sets
    PASSIVE): spinning threads of one runtime slow the other down when both run in a process,
    as `segnas bench --onnx` does, and on a shared machine.
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    spin = os.environ.get("OMP_WAIT_POLICY", "").upper() == "ACTIVE"
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    providers = onnx_providers(torch.device(device))
    return onnxruntime.InferenceSession(str(path), options, providers=providers)


def session_runner(session: onnxruntime.InferenceSession) -> Runner:
    """`Runner` over an ONNX Runtime session of an exported file (inputs and outputs on the CPU)."""
    input_name = session.get_inputs()[0].name

    def run_onnx(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {input_name: x.numpy()})[0])

    return run_onnx


def load_runner(
    path: Path, fmt: str, device: torch.device | str = "cpu", optimize: bool = False
) -> Runner:
    """A function that runs the exported file on `device` in the format's own runtime.

    `optimize` freezes TorchScript (folds batch norm): for timing. ONNX Runtime uses torch's
    intra-op thread count.
    """
    device = torch.device(device)
    if fmt == "onnx":
        return session_runner(onnx_session(path, torch.get_num_threads(), device))
    if fmt == "torchscript":
        module = torch.jit.load(str(path), map_location=device).eval()
        if optimize:
            module = torch.jit.freeze(module)

        def run_script(x: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return module(x.to(device)).cpu()

        return run_script
    raise ValueError(f"format: got {fmt!r}, expected one of {FORMATS}")


def parity_shapes(size: int) -> list[tuple[int, int, int, int]]:
    """The export size with batch 1, then batch 2 at a non-square size of about the same area."""
    other = (max(8, size - size // 4), size + size // 4)
    return [(1, 3, size, size), (2, 3, *other)]


def check_parity(
    runner: Runner,
    reference: nn.Module,
    shapes: list[tuple[int, int, int, int]],
    tolerance: float,
) -> dict[str, float]:
    """Largest absolute difference to `reference` per input shape ("BxCxHxW" keys).

    The bound is `tolerance` times the largest logit magnitude (at least 1): float32 rounding
    alone differs from float64 by about 1e-5 of the logits' scale, and trained networks give
    logits in the tens. Raises `ParityError` naming the shape, the error and the bound when
    one is exceeded, or when the output's shape differs from PyTorch's.
    """
    generator = torch.Generator().manual_seed(0)
    errors: dict[str, float] = {}
    for shape in shapes:
        key = "x".join(map(str, shape))
        x = torch.randn(*shape, generator=generator)  # (B, 3, H, W)
        with torch.no_grad():
            expected = reference(x)  # (B, K, H, W)
        got = runner(x)
        if got.shape != expected.shape:
            raise ParityError(
                f"input {key}: exported output has shape {tuple(got.shape)}, "
                f"PyTorch gives {tuple(expected.shape)}"
            )
        errors[key] = float((got.float() - expected).abs().max())
        bound = tolerance * max(1.0, float(expected.abs().max()))
        if not errors[key] <= bound:  # also catches NaN
            raise ParityError(
                f"input {key}: max abs error {errors[key]:.3g} against PyTorch exceeds "
                f"{bound:.3g} (tolerance {tolerance:g} x the largest logit magnitude, >= 1)"
            )
    return errors


def exported_params(path: Path, fmt: str) -> int:
    """Parameters stored in the exported file: for ONNX, what its Conv, Gemm and batch-norm
    nodes read as weights (`graph_params`; folded weights and biases once batch norm is)."""
    if fmt == "onnx":
        import onnx

        return graph_params(onnx.load(str(path)))
    if fmt == "torchscript":
        return sum(p.numel() for p in torch.jit.load(str(path), map_location="cpu").parameters())
    raise ValueError(f"format: got {fmt!r}, expected one of {FORMATS}")


@dataclass(frozen=True)
class Latency:
    """Single-pass times of the exported file in its own runtime, batch 1, milliseconds."""

    runs: int
    warmup: int
    mean_ms: float
    std_ms: float
    threads: int
    device: str
    runtime: str
    """"onnxruntime (<providers>)" or "torch.jit (frozen)"."""
    input_size: tuple[int, int]


def measure_latency(
    runner: Runner,
    size: int,
    runs: int,
    warmup: int,
    runtime: str,
    device: torch.device,
    on_run: Callable[[], None] | None = None,
) -> Latency:
    """Time `runs` passes after `warmup` ones on one random image, each pass timed on its own."""
    if runs < 2:
        raise ValueError(f"--latency-runs: got {runs}, expected 0 (skip) or >= 2")
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    times = time_passes(lambda: runner(x), runs, warmup, device, on_run)
    return Latency(
        runs=runs,
        warmup=warmup,
        mean_ms=statistics.fmean(times),
        std_ms=statistics.stdev(times),
        threads=torch.get_num_threads(),
        device=str(device),
        runtime=runtime,
        input_size=(size, size),
    )


@dataclass(frozen=True)
class ExportSettings:
    """How a model file becomes an exported one (recorded in the model card)."""

    format: str = "onnx"
    """"onnx" (ONNX Runtime, TensorRT, ...) or "torchscript" (libtorch, torch.jit.load)."""
    size: int = 512
    """Square input size of the example used to export, and of the cost and latency figures."""
    opset: int = DEFAULT_OPSET
    """ONNX opset version (ignored for TorchScript)."""
    tolerance: float = 1e-4
    """Largest logit difference to PyTorch accepted, relative to the largest logit (>= 1)."""
    latency_runs: int = 20
    """Timed passes of the exported file in its own runtime; 0 skips the measurement."""
    latency_warmup: int = 3
    """Untimed passes before the timed ones."""
    plain: bool = False
    """ONNX: the graph as trained, batch norm unfolded (the file then holds exactly the trained
    parameters; ONNX Runtime ran it 1.7-2.3x slower). Default: batch norm folded."""
    subgrids: bool = False
    """ONNX: dilated depthwise convolutions run on their d x d sub-grids undilated (for runtimes
    whose dilated depthwise kernels are slow; ONNX Runtime's CPU provider is not one)."""

    def __post_init__(self) -> None:
        require(self.format in FORMATS, "format", self.format, f"one of {FORMATS}")
        require(not (self.plain and self.subgrids), "subgrids", self.subgrids, "off with plain")
        require(self.size >= 32, "size", self.size, ">= 32 (the encoder's stride)")
        require(self.opset >= 17, "opset", self.opset, ">= 17")
        require(self.tolerance > 0, "tolerance", self.tolerance, "> 0")
        runs = self.latency_runs
        require(runs == 0 or runs >= 2, "latency_runs", runs, "0 or >= 2")
        require(self.latency_warmup >= 0, "latency_warmup", self.latency_warmup, ">= 0")


@dataclass(frozen=True)
class ExportResult:
    """What was written and measured."""

    path: Path
    settings: ExportSettings
    params: int
    """Parameters stored in the exported file."""
    parity: dict[str, float]
    """Max abs error against PyTorch per input shape ("BxCxHxW")."""
    latency: Latency | None
    rewrites: tuple[str, ...] = ()
    """What the file computes differently from the trained graph (exact in eval mode)."""


def write_onnx(model: ExportNet, path: Path, settings: ExportSettings) -> list[str]:
    """Export `model` to one self-contained ONNX file, sub-grids if asked; the rewrites made."""
    export_onnx(model, path, settings.size, settings.opset)
    rewrites = [f"batch norm folded ({model.folded})"] if model.folded else []
    if settings.subgrids:
        rewrites.append(f"dilated depthwise convolutions on sub-grids ({rewrite_file(path)})")
    check_self_contained(path)
    return rewrites


def onnx_runner(
    net: SegmentationNet,
    size: int,
    threads: int,
    device: torch.device | str = "cpu",
    directory: Path | None = None,
) -> Runner:
    """`net`'s deployed ONNX form (what `segnas export` writes) run by ONNX Runtime: for timing.

    Exported at `size` x `size` (dynamic axes as always) into `directory`, or into a temporary
    one that is removed once the session has read the file. The session has `threads` intra-op
    threads and one inter-op; torch's own thread count is left as it is. No parity check:
    that is `export_model`'s.
    """
    settings = ExportSettings(size=size, latency_runs=0)
    model = ExportNet(net, fold_bn=True).cpu()
    with tempfile.TemporaryDirectory(prefix="segnas-onnx-") as scratch:
        path = Path(directory or scratch) / "model.onnx"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_onnx(model, path, settings)
        session = onnx_session(path, threads, device)
    return session_runner(session)


def export_model(
    net: SegmentationNet,
    path: Path,
    settings: ExportSettings,
    device: torch.device | str = "cpu",
    on_run: Callable[[], None] | None = None,
) -> ExportResult:
    """Export `net` to `path`, check it against PyTorch, time it; a failed file is removed.

    Export and the parity check run on the CPU (a portable file; ONNX Runtime's CPU provider is
    the reference runtime); the latency is measured on `device`.
    """
    path = Path(path)
    device = torch.device(device)
    onnx_file = settings.format == "onnx"
    model = ExportNet(net.cpu(), fold_bn=onnx_file and not settings.plain)
    if onnx_file:
        check_onnx_size(model)  # before anything is written
    path.parent.mkdir(parents=True, exist_ok=True)
    sidecar = external_data_path(path)
    sidecar_before = sidecar.exists()
    rewrites: list[str] = []
    try:
        if onnx_file:
            rewrites = write_onnx(model, path, settings)
        else:
            export_torchscript(model, path, settings.size)
        runner = load_runner(path, settings.format, "cpu")
        reference = ExportNet(net) if model.fold_bn else model  # the trained graph itself
        parity = check_parity(runner, reference, parity_shapes(settings.size), settings.tolerance)
        params = exported_params(path, settings.format)
    except BaseException as error:
        path.unlink(missing_ok=True)
        if not sidecar_before:
            sidecar.unlink(missing_ok=True)
        if isinstance(error, ParityError):
            raise ParityError(f"{path}: {error}; the file was removed") from None
        raise
    latency = None
    if settings.latency_runs:
        if settings.format == "onnx":
            runtime = f"onnxruntime ({', '.join(onnx_providers(device))})"
        else:
            runtime = "torch.jit (frozen)"
        timed = load_runner(path, settings.format, device, optimize=True)
        latency = measure_latency(
            timed,
            settings.size,
            settings.latency_runs,
            settings.latency_warmup,
            runtime,
            device,
            on_run,
        )
    return ExportResult(path, settings, params, parity, latency, tuple(rewrites))
