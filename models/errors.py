"""The errors of loading and running models."""

from ..errors import HeadcodeError


class ModelError(HeadcodeError):
    """A model, corpus or attention dump is missing, unsupported or corrupt."""
