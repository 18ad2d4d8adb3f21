"""What the ``sweep`` commands share in their output: exit codes and plain tables."""

from __future__ import annotations

EXIT_USAGE = 2  # bad input: one line naming the problem
EXIT_FAILED = 1  # the sweep or the cluster could not do it


def format_table(rows: list[list[str]], header: list[str]) -> str:
    """Rows under a header, each column as wide as its widest cell (no trailing blanks)."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


__all__ = ["EXIT_FAILED", "EXIT_USAGE", "format_table"]
