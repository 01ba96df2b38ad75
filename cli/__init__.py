"""The `headcode` command line, by command group. Nothing imports this package; it parses
options and calls the parts (the end-to-end work is `headcode.workflow`).

The groups register their commands when imported, in the order `--help` lists them.
"""

# isort: off
from . import language, models, scoring, synthesis, evaluation  # noqa: F401 - they register
# isort: on
from .app import app, main

__all__ = ["app", "main"]
