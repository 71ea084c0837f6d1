"""RFM: recency, frequency and monetary value scored 1..5 over a window, and named cells.

Scores (5 is best) for customers with at least one confirmed sale in the last `window_days`:
- R from the last sale's time (recent = high), F from the number of sales, M from the net amount.
- Quintiles (default): score = ceil(5 * cume_dist()) over all scored customers, so each score holds
  about a fifth of them; equal values always share a score (NTILE would split ties arbitrarily,
  and with purchase counts most values are ties).
- Fixed thresholds: four ascending bounds per measure (recency in days, frequency, amount).

Cells are named from R and FM = ceil((F + M) / 2) with this grid (rows R 5..1, columns FM 1..5):

| R \\ FM | 1 | 2 | 3 | 4 | 5 |
|---|---|---|---|---|---|
| 5 | new | potential loyalists | potential loyalists | champions | champions |
| 4 | promising | potential loyalists | potential loyalists | loyal | champions |
| 3 | about to sleep | about to sleep | need attention | loyal | loyal |
| 2 | hibernating | hibernating | at risk | at risk | can't lose |
| 1 | lost | hibernating | at risk | at risk | can't lose |
"""
from __future__ import annotations

# cell code -> label, in the order the admin lists them (best first)
CELL_NAMES: dict[str, str] = {
    "champions": "Champions",
    "loyal": "Loyal",
    "potential_loyalists": "Potential loyalists",
    "new": "New",
    "promising": "Promising",
    "need_attention": "Need attention",
    "about_to_sleep": "About to sleep",
    "at_risk": "At risk",
    "cant_lose": "Can't lose",
    "hibernating": "Hibernating",
    "lost": "Lost",
}

_GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("new", "potential_loyalists", "potential_loyalists", "champions", "champions"),
    4: ("promising", "potential_loyalists", "potential_loyalists", "loyal", "champions"),
    3: ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"),
    1: ("lost", "hibernating", "at_risk", "at_risk", "cant_lose"),
}

CELLS: dict[tuple[int, int], str] = {(r, fm): _GRID[r][fm - 1] for r in range(1, 6) for fm in range(1, 6)}


def fm_score(f: int, m: int) -> int:
    return (f + m + 1) // 2


def cell_of(r: int, f: int, m: int) -> str:
    return CELLS[(r, fm_score(f, m))]


def cell_sql(r: str, f: str, m: str) -> str:
    """SQL for the cell of scores r, f, m (expressions 1..5): a subscript of the grid as a constant
    array, (R - 1) * 5 + FM. Not a join to a VALUES list: the planner cannot estimate a join on
    computed keys and then believed a million scored rows were a few hundred."""
    cells = ", ".join(f"'{cell}'" for _, cell in sorted(CELLS.items()))
    return f"(ARRAY[{cells}]::text[])[({r} - 1) * 5 + ({f} + {m} + 1) / 2]"


def grid() -> list[tuple[int, list[str]]]:
    """Rows R 5..1 with the cell of each FM 1..5 (for the admin's chart)."""
    return [(r, list(_GRID[r])) for r in (5, 4, 3, 2, 1)]
