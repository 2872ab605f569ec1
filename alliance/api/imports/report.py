"""What an import answers: the counts it would create and the problems it found, per row."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MAX_REPORTED_ERRORS = 1000


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str

    def to_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class ImportReport:
    dry_run: bool
    rows: int = 0
    clients: int = 0
    episodes: int = 0
    sessions: int = 0
    administrations: int = 0
    unchanged: int = 0
    committed: bool = False
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def to_dict(self) -> dict:
        return {
            "dry_run": self.dry_run,
            "committed": self.committed,
            "rows": self.rows,
            "created": {
                "clients": self.clients,
                "episodes": self.episodes,
                "sessions": self.sessions,
                "administrations": self.administrations,
            },
            "unchanged": self.unchanged,
            "error_count": self.error_count,
            "errors": [error.to_dict() for error in self.errors],
        }

    def finish(self, errors: Errors) -> ImportReport:
        """Take the problems found, sorted by row and column (the first 1000 are listed)."""
        ordered = sorted(errors.items, key=lambda e: (e.row, e.column))
        self.error_count = len(ordered)
        self.errors = ordered[:MAX_REPORTED_ERRORS]
        return self


class Errors:
    """The problems found so far, by row index of the table; remembers which rows are bad."""

    def __init__(self, row_numbers: list[int] | None = None) -> None:
        self.items: list[RowError] = []
        self.bad_rows: set[int] = set()
        self.row_numbers = row_numbers  # None: CSV line numbers (index + 2)

    def add(self, index: int, column: str, message: str) -> None:
        self.bad_rows.add(index)
        row = self.row_numbers[index] if self.row_numbers is not None else index + 2
        self.items.append(RowError(row, column, message))

    def add_mask(self, mask, column: str, message: str) -> None:
        for index in np.flatnonzero(np.asarray(mask, dtype=bool)):
            self.add(int(index), column, message)
