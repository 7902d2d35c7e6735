"""Errors raised by genome types.

:class:`GenomeError` is one kind of :class:`evonas.errors.EvonasError` and is defined there (a leaf
module that imports nothing; ``evonas/__init__.py`` is lazy, so importing it keeps this package
free of the engine and of torch).
"""

from evonas.errors import GenomeError

__all__ = ["GenomeError"]
