"""Benchmarks: run with ``python -m bench [NAME ...]`` (all of them without a name).

Each module in ``BENCHMARKS`` exposes ``main() -> int``. Benchmarks are kept out of the test
suite: timings depend on the machine, so nothing here is a pass/fail test of speed.
"""

BENCHMARKS: tuple[str, ...] = (
    "effectiveness",
    "etr",
    "caseload",
    "import_bulk",
    "client_form",
    "report_pg",
    "scale",
    "submit",
)
