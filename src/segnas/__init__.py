"""segnas: fast neural architecture search of compact semantic-segmentation decoders."""

import os

# OpenMP threads that wait for work spin on their core by default. When another process wants
# the same cores, the spinning threads and the process take turns and both slow down many times
# (a controller update went from 69 to 264 ms beside one busy process; passive: 99 ms). The
# OpenMP runtime reads this once, when torch loads it, so it is set here, before any segnas
# module imports torch; worker processes inherit it. OMP_WAIT_POLICY=ACTIVE in the environment
# wins (README, "Candidates at once, and sharing the cores").
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from segnas.genotype import KNOWN_DESIGNS, Genotype, GenotypeError, SearchSpace, parse

__version__ = "0.1.0"
__all__ = ["KNOWN_DESIGNS", "Genotype", "GenotypeError", "SearchSpace", "parse", "__version__"]
