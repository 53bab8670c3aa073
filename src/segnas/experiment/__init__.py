"""Experiments that run several ordinary searches and compare them (strategies, seeds)."""
