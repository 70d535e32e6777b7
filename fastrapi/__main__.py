"""``python -m fastrapi run main:app``: the same command line as ``fastrapi``."""
import sys

from .cli import main

sys.exit(main())
