"""headcode: explain attention heads as short, checked, executable programs."""

__version__ = "0.1.0"
