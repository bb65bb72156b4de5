"""Fixed-width text tables, as the command line prints them."""


def text_table(rows: list, align: str, *, gap: str = "  ", minimum: tuple = (), rules_before: tuple = ()) -> str:
    """``rows`` of text cells (the first row the header; every row has its number of cells) as lines of aligned
    columns.

    Column ``i`` is as wide as its widest cell, and at least ``minimum[i]`` when given; its cells are left-aligned
    where ``align[i]`` is ``"<"``, right-aligned where it is ``">"``. Cells are joined by ``gap`` and lines lose
    their trailing blanks. A rule of dashes as long as the header line goes before each row index in
    ``rules_before`` (negative indices count from the end)."""
    columns = range(len(rows[0]))
    widths = [max(minimum[i] if i < len(minimum) else 0, *(len(row[i]) for row in rows)) for i in columns]

    def line(row) -> str:
        return gap.join(cell.ljust(w) if side == "<" else cell.rjust(w)
                        for cell, w, side in zip(row, widths, align)).rstrip()

    lines = [line(row) for row in rows]
    rule = "-" * len(lines[0])
    for index in sorted((i % len(rows) for i in rules_before), reverse=True):
        lines.insert(index, rule)
    return "\n".join(lines)
