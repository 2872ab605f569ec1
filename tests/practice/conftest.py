"""The practice tests use the reports' simulated history of Riverside (four therapists)."""

from tests.reports.conftest import history  # noqa: F401
