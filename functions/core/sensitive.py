"""A value that does not show itself in logs, reprs or errors."""

from __future__ import annotations


class SecretValue:
    """A secret that does not show itself: ``str``/``repr`` print a mask, ``reveal()`` the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretValue('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)
