"""The errors of language-model proposers."""

from ...errors import HeadcodeError


class LLMError(HeadcodeError):
    """A language-model server cannot be used: no API key, authentication refused, a request
    rejected, or retries exhausted."""
