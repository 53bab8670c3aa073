"""Hand-designed baselines (segmentation_models_pytorch decoders) on segnas's encoder weights.

Sits beside `segnas.space`: model files rebuild baselines as they rebuild found designs.
Importing this package does not import segmentation_models_pytorch.
"""

from segnas.baselines.smp import (
    BASELINES,
    INSTALL_HINT,
    BaselineNet,
    BaselineSpec,
    BaselineUnavailableError,
    baseline_info,
    build_baseline,
    check_baseline_name,
    import_smp,
    is_baseline_name,
    smp_available,
)

__all__ = [
    "BASELINES",
    "INSTALL_HINT",
    "BaselineNet",
    "BaselineSpec",
    "BaselineUnavailableError",
    "baseline_info",
    "build_baseline",
    "check_baseline_name",
    "import_smp",
    "is_baseline_name",
    "smp_available",
]
