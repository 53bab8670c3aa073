"""Training: caches, the two stages, metrics and reward, teachers, full training."""
