"""Records as the type checker sees them (frozen dataclasses) and as Python builds them.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (its own
``__setattr__`` refuses): about ten times the cost of a plain one for a 37-field device, and
a first device sync builds a few thousand records a tenant (issue 21 item 3). ``record``
classes are frozen for mypy (``dataclass_transform``: assigning a field is a type error)
and built like plain slotted dataclasses at run time, hashed by their compared fields as a
frozen one is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """A slotted dataclass, frozen for the type checker (see the module's docstring)."""
    return dataclass(slots=True, unsafe_hash=True)(cls)
