"""Experiments that run several ordinary searches and compare them (strategies, seeds), and
that score the same designs under several settings (reward noise, ablation)."""
