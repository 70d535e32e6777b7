"""Shared bits of the benchmark apps: the port comes from argv[1] (default 8000)."""
import sys


def port_from_argv(default: int = 8000) -> int:
    return int(sys.argv[1]) if len(sys.argv) > 1 else default
