"""segnas: fast neural architecture search of compact semantic-segmentation decoders."""

from segnas.genotype import KNOWN_DESIGNS, Genotype, GenotypeError, SearchSpace, parse

__version__ = "0.1.0"
__all__ = ["KNOWN_DESIGNS", "Genotype", "GenotypeError", "SearchSpace", "parse", "__version__"]
