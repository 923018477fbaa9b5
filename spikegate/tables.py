"""Plain-text tables for the command line (first column left-aligned, the others right-aligned)."""
from __future__ import annotations


def text_table(rows, headers) -> str:
    """``rows`` (lists of cells) under ``headers``, columns padded to their widest cell."""
    cells = [[str(c) for c in r] for r in [headers] + list(rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if k else c.ljust(w) for k, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
