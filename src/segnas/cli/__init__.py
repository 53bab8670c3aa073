"""The `segnas` command line: one module a command family, shared options in `options`."""

from segnas.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
