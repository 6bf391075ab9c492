"""Rewrite tests/accuracy_table.md from a fresh measurement of every elementwise kernel.

The table test (tests/test_accuracy.py::test_committed_accuracy_table_is_current) only compares; when
kernels or bounds change, run this, look at the diff, commit the table, and run ``symact generate``
(the reference docs quote the table):

    python tests/update_accuracy_table.py
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from accuracy import all_results, table_text  # noqa: E402


def main() -> int:
    results = all_results()
    failing = [f for r in results.values() for f in r.failures]
    path = HERE / "accuracy_table.md"
    path.write_text(table_text(results), encoding="utf-8")
    print(f"wrote {path} ({len(results)} kernel/dtype rows, {sum(r.points for r in results.values())} points)")
    if failing:
        print(f"note: {len(failing)} points are over their bound (tests/test_accuracy.py fails), e.g.:")
        print("\n".join(failing[:10]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
