"""Fitted ETR models moved from reports to care (care 0004, reports 0002): an agency's stored
models, which one is active, and the refit jobs that made them survive the move."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("care", "0003_client_young_child_band"), ("reports", "0001_reporting_models")]
AFTER = [("care", "0004_fittedmodel_from_reports"), ("reports", "0002_fittedmodel_to_care")]


def migrate(targets) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)  # a fresh loader sees what is applied now


def applied_state(executor: MigrationExecutor):
    """The models as the applied migrations leave them (every other app at its latest)."""
    return executor.loader.project_state(list(executor.loader.applied_migrations)).apps


def stored_models(apps, app_label: str) -> list[tuple]:
    FittedModel = apps.get_model(app_label, "FittedModel")
    return list(
        FittedModel.objects.order_by("pk").values_list(
            "pk", "public_id", "agency__name", "instrument", "parameters", "active", "n_episodes"
        )
    )


# Migrations need real commits (SQLite's schema editor refuses to run inside a test transaction).
@pytest.mark.django_db(transaction=True)
def test_moving_fitted_models_into_care_keeps_the_rows_and_the_refit_jobs_that_point_at_them():
    executor = migrate(BEFORE)
    try:
        # Everything applied now (accounts and the rest stay at their latest migration).
        old = applied_state(executor)
        agency = old.get_model("accounts", "Agency").objects.create(name="Riverside")
        OldFitted = old.get_model("reports", "FittedModel")
        fitted = [
            OldFitted.objects.create(
                agency=agency,
                instrument="ors",
                parameters={"name": f"ors-agency-{n}", "n": n},
                n_episodes=250 + n,
                fitted_on=datetime.date(2026, 1, n),
                active=n == 2,
            )
            for n in (1, 2)
        ]
        job = old.get_model("reports", "RefitJob").objects.create(
            agency=agency, instrument="ors", status="done", progress=100, result=fitted[1]
        )
        ContentType = old.get_model("contenttypes", "ContentType")
        content_type, _ = ContentType.objects.get_or_create(
            app_label="reports", model="fittedmodel"
        )
        before = stored_models(old, "reports")

        executor = migrate(AFTER)
        new = applied_state(executor)
        assert stored_models(new, "care") == before
        assert new.get_model("care", "FittedModel")._meta.db_table == "care_fittedmodel"
        assert "care_fittedmodel" in connection.introspection.table_names()
        assert "reports_fittedmodel" not in connection.introspection.table_names()
        moved_job = new.get_model("reports", "RefitJob").objects.select_related("result").get()
        assert (moved_job.pk, moved_job.result.public_id) == (job.pk, fitted[1].public_id)
        assert ContentType.objects.get(pk=content_type.pk).app_label == "care"
        # The one-active-model rule still holds on the renamed table.
        NewFitted = new.get_model("care", "FittedModel")
        with pytest.raises(Exception, match="(?i)unique"):
            NewFitted.objects.create(
                agency_id=agency.pk,
                instrument="ors",
                parameters={},
                n_episodes=1,
                fitted_on=datetime.date(2026, 2, 1),
                active=True,
            )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
