"""The root of every error headcode reports to a user.

Each part declares its own errors beside its code (`dsl/errors.py`, `models/errors.py`,
`synth/llm/errors.py`), all subclasses of `HeadcodeError`; the command line catches this one class
and prints it as one line (exit status 2).
"""


class HeadcodeError(Exception):
    """Base of all errors headcode reports to a user (never a crash)."""
