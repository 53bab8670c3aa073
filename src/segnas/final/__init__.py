"""Final models: full training, evaluation, prediction, export and runtime benchmarks."""
