"""Long pre/post tables from (pre, post) pairs, shared by the change tests' property checks."""

from __future__ import annotations

import pandas as pd

from alliance.science.change import analyse_change


def long_table(pairs: list[tuple[int, int]], sign: int = 1) -> pd.DataFrame:
    n = len(pairs)
    return pd.DataFrame(
        {
            "client": [f"c{i}" for i in range(n)] * 2,
            "when": ["pre"] * n + ["post"] * n,
            "score": [sign * p for p, _ in pairs] + [sign * q for _, q in pairs],
        }
    )


def analyse_pairs(pairs, sign=1, **options):
    return analyse_change(
        long_table(pairs, sign),
        id_column="client",
        time_column="when",
        score_column="score",
        pre="pre",
        post="post",
        **options,
    )
