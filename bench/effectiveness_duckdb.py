"""The DuckDB baseline of `alliance effectiveness FILE --by therapist_id --json`.

``python -m bench.effectiveness_duckdb FILE [--threads N]`` loads the administrations table
(CSV or Parquet) into DuckDB and computes, with SQL alone, every per-therapist field of the CLI's
JSON that SQL can compute; it prints one JSON object ``{"groups": {therapist: {...}}, "load_s",
"query_s"}`` shaped like the CLI's ``groups``, so that ``bench/effectiveness.py`` can time it end
to end (Python start-up, ``import duckdb``, loading the file, the queries, JSON) and compare
every number.

Fields computed here: n_episodes, n_clients, n_used, intake/change mean and SD, ES with its
delta-method interval, SAES value and n, relative ES (severity-adjustment regression fitted in
SQL), reliable improvement/deterioration, clinically significant change, reached target (the ETR
target evaluated in SQL from the model's parameters), drop-out, last colour, last green,
unilateral by last colour (each with its Wilson interval), n_closed, sessions and days (value and
n), small_sample, by_age_band, collateral_raters and the alliance summary (n, mean, SD, intake
mean, below cutoff with Wilson interval, early-alliance correlation with its Fisher-z interval).
Left out because SQL has no t quantile: the t intervals (low/high) of SAES, sessions and days.

The instrument's constants (cutoffs, reliable change, direction, score range) and the ETR model's
parameters are the inputs of the definition and are passed in as numbers, as the CLI reads them
from its instrument and model files. Episode attributes (age band, ending) are the first value
given in session order; the CLI takes the first in file order, which is the same for files sorted
by episode and session (the simulator's and the research export's).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any

Z_95 = 1.959963984540054


def constants(instrument: str = "ors", rater: str = "client") -> dict[str, Any]:
    """The numbers the definitions need, from the instrument and default ETR model files."""
    from scipy import special

    from alliance.science.effectiveness import ALLIANCE_FOR_OUTCOME, SMALL_SAMPLE
    from alliance.science.etr import default_model
    from alliance.science.instruments import get_instrument
    from alliance.science.instruments.model import BOUNDARY_TOLERANCE

    definition = get_instrument(instrument)
    model = default_model(instrument)
    alliance = ALLIANCE_FOR_OUTCOME[definition.code]
    p = model.parameters
    return {
        "instrument": definition.code,
        "rater": rater,
        "alliance": alliance,
        "alliance_cutoff": get_instrument(alliance).alliance_cutoff,
        "higher": bool(definition.higher_is_better),
        "dir": float(definition.direction),
        "rc": float(definition.reliable_change or math.nan),
        "tol": BOUNDARY_TOLERANCE,
        "default_cutoff": definition.clinical_cutoff(None),
        "cutoffs": {b.name: b.clinical_cutoff for b in definition.age_bands},
        "a": p.slope_at_centre,
        "b": p.intake_slope,
        "c": p.intake_centre,
        "g11": p.var_intercept,
        "g12": p.cov_intercept_slope,
        "g22": p.var_slope,
        "s2": p.var_residual,
        "z_target": model.direction * float(special.ndtri(model.target_percentile / 100.0)),
        "z_negative": model.direction * float(special.ndtri(model.negative_percentile / 100.0)),
        "score_min": model.score_min,
        "score_max": model.score_max,
        "small": SMALL_SAMPLE,
    }


def _sql_number(value: float | None) -> str:
    return "NULL" if value is None else repr(float(value))


def _macros(k: dict[str, Any]) -> list[str]:
    z = repr(Z_95)
    return [
        f"""CREATE OR REPLACE MACRO wilson_low(c, n) AS CASE WHEN n > 0 THEN greatest(0.0,
            (c / n + {z}^2 / (2 * n)) / (1 + {z}^2 / n)
            - {z} * sqrt((c / n) * (1 - c / n) / n + {z}^2 / (4 * n * n)) / (1 + {z}^2 / n)) END""",
        f"""CREATE OR REPLACE MACRO wilson_high(c, n) AS CASE WHEN n > 0 THEN least(1.0,
            (c / n + {z}^2 / (2 * n)) / (1 + {z}^2 / n)
            + {z} * sqrt((c / n) * (1 - c / n) / n + {z}^2 / (4 * n * n)) / (1 + {z}^2 / n)) END""",
        # The ETR model's score at a z of its predictive distribution, k sessions from intake.
        f"""CREATE OR REPLACE MACRO etr_score(intake, k, z) AS least({k["score_max"]!r},
            greatest({k["score_min"]!r}, intake + ({k["a"]!r} + {k["b"]!r} * (intake - {k["c"]!r}))
            * ln(k) + z * CASE WHEN ln(k) > 0 THEN sqrt(greatest(0.0, {k["g11"]!r}
            + 2 * {k["g12"]!r} * ln(k) + {k["g22"]!r} * ln(k)^2 + {k["s2"]!r})) ELSE 0.0 END))""",
    ]


def _clinical(column: str, k: dict[str, Any]) -> str:
    if k["higher"]:
        return f"coalesce({column} < cutoff - {k['tol']!r}, false)"
    return f"coalesce({column} >= cutoff - {k['tol']!r}, false)"


def episode_statements(k: dict[str, Any]) -> list[str]:
    """Temporary tables: one pass over the administrations making one row per episode (``ep``),
    then the per-episode flags (``fl``) and the severity-adjustment reference (``ref``)."""
    bands = (
        ", ".join(f"('{name}', {_sql_number(cutoff)})" for name, cutoff in k["cutoffs"].items())
        or "(NULL, NULL)"
    )
    instrument, alliance, rater = k["instrument"], k["alliance"], k["rater"]
    return [
        f"""CREATE OR REPLACE TEMP TABLE ep AS
        WITH outcome AS (
            SELECT episode_id,
                   arg_min_null(client_id, session_number) AS client_id,
                   arg_min_null(therapist_id, session_number) AS therapist_id,
                   arg_min(total, session_number) AS intake,
                   arg_max(total, session_number) AS final,
                   count(*) AS n_scores,
                   max(session_number) - min(session_number) + 1 AS k,
                   arg_max(session_date, session_number) - arg_min(session_date, session_number)
                       AS days
            FROM administrations
            WHERE lower(instrument) = '{instrument}' AND rater = '{rater}'
              AND total IS NOT NULL AND episode_id IS NOT NULL
            GROUP BY episode_id
        ), attributes AS (
            SELECT episode_id,
                   arg_min(age_band, session_number) FILTER (WHERE age_band IS NOT NULL)
                       AS age_band,
                   arg_min(ending, session_number) FILTER (WHERE ending IS NOT NULL) AS ending
            FROM administrations WHERE episode_id IS NOT NULL GROUP BY episode_id
        ), alliance AS (
            SELECT episode_id,
                   count(*) AS a_n, sum(total) AS a_sum, sum(total * total) AS a_squares,
                   count(*) FILTER (WHERE total < {k["alliance_cutoff"]!r}) AS a_below,
                   arg_min(total, session_number) AS a_first,
                   min_by({{'s': session_number, 't': total}}, session_number, 2) AS a_two
            FROM administrations
            WHERE lower(instrument) = '{alliance}' AND rater = '{rater}'
              AND total IS NOT NULL AND episode_id IS NOT NULL
            GROUP BY episode_id
        ), collateral AS (
            SELECT episode_id, list(DISTINCT rater) AS raters FROM administrations
            WHERE lower(instrument) = '{instrument}' AND rater <> '{rater}'
              AND episode_id IS NOT NULL
            GROUP BY episode_id
        )
        SELECT * FROM outcome
            LEFT JOIN attributes USING (episode_id)
            LEFT JOIN alliance USING (episode_id)
            LEFT JOIN collateral USING (episode_id)""",
        f"""CREATE OR REPLACE TEMP TABLE fl0 AS
        WITH bands(band, band_cutoff) AS (VALUES {bands})
        SELECT ep.*,
               n_scores >= 2 AS used,
               final - intake AS change,
               CASE WHEN age_band IS NULL THEN {_sql_number(k["default_cutoff"])}
                    ELSE bands.band_cutoff END AS cutoff,
               ending IS NOT NULL AS closed,
               coalesce(ending = 'unilateral', false) AS unilateral,
               etr_score(intake, k, {k["z_target"]!r}) AS target,
               etr_score(intake, k, {k["z_negative"]!r}) AS negative,
               list_avg(list_transform(list_filter(a_two, lambda x: x.s - a_two[1].s < 2), lambda x: x.t))
                   AS early
        FROM ep LEFT JOIN bands ON bands.band = ep.age_band""",
        f"""CREATE OR REPLACE TEMP TABLE fl1 AS
        SELECT *,
               {_clinical("intake", k)} AS clinical_intake,
               {_clinical("final", k)} AS clinical_final,
               used AND {k["dir"]!r} * change >= {k["rc"]!r} - {k["tol"]!r} AS improved,
               used AND -{k["dir"]!r} * change >= {k["rc"]!r} - {k["tol"]!r} AS deteriorated,
               used AND {k["dir"]!r} * final >= {k["dir"]!r} * target AS reached
        FROM fl0""",
        """CREATE OR REPLACE TEMP TABLE ref AS
        SELECT regr_intercept(change, intake) AS intercept, regr_slope(change, intake) AS slope,
               avg(change) AS mean_change, stddev_samp(intake) AS sd_intake, count(*) AS n
        FROM fl1 WHERE used AND clinical_intake""",
        f"""CREATE OR REPLACE TEMP TABLE fl AS
        SELECT fl1.*,
               improved AND clinical_intake AND NOT clinical_final AS recovered,
               CASE WHEN NOT used THEN 'grey' WHEN reached THEN 'green'
                    WHEN {k["dir"]!r} * final >= {k["dir"]!r} * negative THEN 'orange'
                    ELSE 'red' END AS colour,
               CASE WHEN used AND clinical_intake THEN (ref.mean_change + change
                    - (ref.intercept + ref.slope * intake)) / ref.sd_intake END AS saes,
               CASE WHEN (SELECT count(*) FROM fl1 WHERE closed) > 0 THEN closed ELSE true END
                   AS finished
        FROM fl1, ref""",
    ]


def summary_query(k: dict[str, Any]) -> str:
    return f"""
    WITH s AS (
        SELECT therapist_id AS g,
            count(*) AS n_episodes, count(DISTINCT client_id) AS n_clients,
            count(*) FILTER (WHERE used) AS n_used,
            avg(intake) FILTER (WHERE used) AS intake_mean,
            stddev_samp(intake) FILTER (WHERE used) AS intake_sd,
            avg(change) FILTER (WHERE used) AS change_mean,
            stddev_samp(change) FILTER (WHERE used) AS change_sd,
            avg(saes) AS saes, count(saes) AS saes_n,
            count(*) FILTER (WHERE improved) AS improved,
            count(*) FILTER (WHERE deteriorated) AS deteriorated,
            count(*) FILTER (WHERE recovered) AS recovered,
            count(*) FILTER (WHERE used AND clinical_intake) AS csc_base,
            count(*) FILTER (WHERE reached) AS reached,
            count(*) FILTER (WHERE closed AND unilateral AND NOT reached) AS dropout,
            count(*) FILTER (WHERE closed) AS closed,
            count(*) FILTER (WHERE colour = 'green') AS green,
            count(*) FILTER (WHERE colour = 'orange') AS orange,
            count(*) FILTER (WHERE colour = 'red') AS red,
            count(*) FILTER (WHERE colour = 'grey') AS grey,
            count(*) FILTER (WHERE closed AND colour = 'green') AS closed_green,
            count(*) FILTER (WHERE closed AND colour <> 'green') AS closed_not_green,
            count(*) FILTER (WHERE closed AND unilateral AND colour = 'green') AS uni_green,
            count(*) FILTER (WHERE closed AND unilateral AND colour <> 'green') AS uni_not_green,
            avg(n_scores) FILTER (WHERE finished) AS sessions,
            count(*) FILTER (WHERE finished) AS sessions_n,
            avg(days) FILTER (WHERE finished) AS days,
            count(days) FILTER (WHERE finished) AS days_n,
            sum(a_n) AS a_n, sum(a_sum) / sum(a_n) AS a_mean,
            sqrt(greatest(0.0, (sum(a_squares) - sum(a_sum) ^ 2 / sum(a_n)) / (sum(a_n) - 1))) AS a_sd,
            avg(a_first) AS a_intake, sum(a_below) AS a_below,
            corr(early, change) FILTER (WHERE used) AS r,
            count(early) FILTER (WHERE used) AS r_n
        FROM fl GROUP BY therapist_id
    )
    SELECT coalesce(g, '(missing)') AS label, s.*,
        CASE WHEN n_used >= 2 AND intake_sd > 0 THEN change_mean / intake_sd END AS es,
        CASE WHEN n_used >= 2 AND intake_sd > 0 THEN sqrt(change_sd ^ 2
            / (n_used * intake_sd ^ 2) + (change_mean / intake_sd) ^ 2 / (2 * (n_used - 1)))
            END AS es_se,
        (SELECT mean_change / sd_intake FROM ref) AS ref_es,
        wilson_low(improved, n_used) AS improved_low, wilson_high(improved, n_used) AS improved_high,
        wilson_low(deteriorated, n_used) AS det_low, wilson_high(deteriorated, n_used) AS det_high,
        wilson_low(recovered, csc_base) AS csc_low, wilson_high(recovered, csc_base) AS csc_high,
        wilson_low(reached, n_used) AS reached_low, wilson_high(reached, n_used) AS reached_high,
        wilson_low(dropout, closed) AS dropout_low, wilson_high(dropout, closed) AS dropout_high,
        wilson_low(green, n_episodes) AS green_low, wilson_high(green, n_episodes) AS green_high,
        wilson_low(uni_green, closed_green) AS ug_low,
        wilson_high(uni_green, closed_green) AS ug_high,
        wilson_low(uni_not_green, closed_not_green) AS ung_low,
        wilson_high(uni_not_green, closed_not_green) AS ung_high,
        wilson_low(a_below, a_n) AS a_below_low, wilson_high(a_below, a_n) AS a_below_high,
        CASE WHEN r_n >= 3 THEN r END AS r_value,
        CASE WHEN r_n > 3 AND abs(r) < 1
             THEN tanh(atanh(r) - {Z_95!r} / sqrt(r_n - 3)) END AS r_low,
        CASE WHEN r_n > 3 AND abs(r) < 1
             THEN tanh(atanh(r) + {Z_95!r} / sqrt(r_n - 3)) END AS r_high
    FROM s
    """


AGE_BAND_QUERY = """
SELECT coalesce(therapist_id, '(missing)') AS label, coalesce(age_band, '(missing)') AS band,
       count(DISTINCT client_id) AS n_clients, count(*) AS n_episodes, avg(intake) AS intake_mean
FROM fl GROUP BY ALL
"""

COLLATERAL_QUERY = """
SELECT coalesce(therapist_id, '(missing)') AS label, rater, count(*) AS n
FROM (SELECT therapist_id, unnest(raters) AS rater FROM fl WHERE raters IS NOT NULL)
GROUP BY ALL
"""


def _proportion(row: dict[str, Any], count: str, n: str, low: str, high: str) -> dict[str, Any]:
    c, total = int(row[count]), int(row[n])
    return {
        "count": c,
        "n": total,
        "proportion": c / total if total else None,
        "low": row[low],
        "high": row[high],
    }


def _value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def group_summary(row: dict[str, Any]) -> dict[str, Any]:
    """One therapist's fields, shaped like the CLI's JSON (the SQL-computable subset)."""
    row = {key: _value(v) for key, v in row.items()}
    es, se = row["es"], row["es_se"]
    summary: dict[str, Any] = {
        "n_episodes": row["n_episodes"],
        "n_clients": row["n_clients"],
        "n_used": row["n_used"],
        "intake_mean": row["intake_mean"],
        "intake_sd": row["intake_sd"],
        "change_mean": row["change_mean"],
        "change_sd": row["change_sd"],
        "es": {
            "value": es,
            "low": es - Z_95 * se if es is not None else None,
            "high": es + Z_95 * se if es is not None else None,
            "n": row["n_used"],
        },
        "saes": {"value": row["saes"], "n": row["saes_n"]},
        "relative_es": row["saes"] - row["ref_es"] if row["saes"] is not None else None,
        "reliable_improvement": _proportion(
            row, "improved", "n_used", "improved_low", "improved_high"
        ),
        "reliable_deterioration": _proportion(row, "deteriorated", "n_used", "det_low", "det_high"),
        "clinically_significant": _proportion(row, "recovered", "csc_base", "csc_low", "csc_high"),
        "reached_target": _proportion(row, "reached", "n_used", "reached_low", "reached_high"),
        "dropout": _proportion(row, "dropout", "closed", "dropout_low", "dropout_high"),
        "last_colour": {c: row[c] for c in ("green", "orange", "red", "grey")},
        "last_green": _proportion(row, "green", "n_episodes", "green_low", "green_high"),
        "unilateral_by_last_colour": {
            "green": _proportion(row, "uni_green", "closed_green", "ug_low", "ug_high"),
            "not_green": _proportion(
                row, "uni_not_green", "closed_not_green", "ung_low", "ung_high"
            ),
        },
        "n_closed": row["closed"],
        "sessions": {"value": row["sessions"], "n": row["sessions_n"]},
        "days": {"value": row["days"], "n": row["days_n"]},
        "small_sample": row["n_used"] < SMALL,
        "by_age_band": {},
        "collateral_raters": {},
        "alliance": None,
    }
    if row["a_n"]:
        summary["alliance"] = {
            "n_sessions": row["a_n"],
            "mean": row["a_mean"],
            "sd": row["a_sd"],
            "intake_mean": row["a_intake"],
            "below_cutoff": _proportion(row, "a_below", "a_n", "a_below_low", "a_below_high"),
            "early_outcome_r": {
                "value": row["r_value"],
                "low": row["r_low"],
                "high": row["r_high"],
                "n": row["r_n"],
            },
        }
    return summary


SMALL = 10  # alliance.science.effectiveness.SMALL_SAMPLE, checked by bench/effectiveness.py


def load(connection: Any, path: str) -> None:
    reader = "read_parquet" if path.lower().endswith(".parquet") else "read_csv"
    connection.execute(f"CREATE TABLE administrations AS SELECT * FROM {reader}(?)", [path])


def compute(connection: Any, k: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every SQL-computable per-therapist field, from the loaded ``administrations`` table."""
    for statement in [*_macros(k), *episode_statements(k)]:
        connection.execute(statement)

    def records(sql: str) -> list[dict[str, Any]]:
        cursor = connection.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    groups = {str(row["label"]): group_summary(row) for row in records(summary_query(k))}
    for row in records(AGE_BAND_QUERY):
        groups[row["label"]]["by_age_band"][row["band"]] = {
            "n_clients": row["n_clients"],
            "n_episodes": row["n_episodes"],
            "intake_mean": row["intake_mean"],
        }
    for row in records(COLLATERAL_QUERY):
        groups[row["label"]]["collateral_raters"][row["rater"]] = row["n"]
    return dict(sorted(groups.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.effectiveness_duckdb")
    parser.add_argument("file")
    parser.add_argument("--constants", required=True, help="JSON of constants() (from the bench)")
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads (0: its default)")
    args = parser.parse_args(argv)
    import duckdb

    k = json.loads(args.constants)
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    if args.threads:
        connection.execute(f"SET threads = {int(args.threads)}")
    start = time.perf_counter()
    load(connection, args.file)
    loaded = time.perf_counter()
    groups = compute(connection, k)
    done = time.perf_counter()
    print(json.dumps({"groups": groups, "load_s": loaded - start, "query_s": done - loaded}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
