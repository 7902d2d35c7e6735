"""Errors raised by genome types."""


class GenomeError(ValueError):
    """A genome (or its JSON form) breaks an invariant. The message names the field at fault."""

