"""`segnas auto`: data check, search, full training, evaluation, baselines, latency, export and a
final `auto.md`, one resumable pipeline in one directory."""
