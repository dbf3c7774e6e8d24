"""Table Storage filters, built clause by clause with every value a parameter."""

from __future__ import annotations

from typing import Any


class TableFilter:
    """A filter built clause by clause, every value a parameter: input never enters the text.

    ``equal`` and ``prefix`` skip a ``None`` or empty value, so optional filters chain.
    """

    def __init__(self, partition: str | None = None) -> None:
        self._clauses: list[str] = []
        self.params: dict[str, Any] = {}
        self.equal("PartitionKey", partition)

    def _param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return name

    def equal(self, column: str, value: Any) -> TableFilter:
        if value is not None:
            self._clauses.append(f"{column} eq @{self._param(value)}")
        return self

    def prefix(self, column: str, prefix: str | None) -> TableFilter:
        """Values of ``column`` that start with ``prefix`` (``lo <= value < hi``)."""
        if prefix:
            hi = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            self._clauses.append(
                f"{column} ge @{self._param(prefix)} and {column} lt @{self._param(hi)}")
        return self

    @property
    def text(self) -> str:
        return " and ".join(self._clauses)
