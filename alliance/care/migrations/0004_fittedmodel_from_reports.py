"""FittedModel moves from reports to care, keeping its rows.

The care records ask for the model in use on every rating, so the model lives in care and care
depends on nothing in reports. The table ``reports_fittedmodel`` is taken over as it is (state
only), then renamed to ``care_fittedmodel``; the content type follows, so nothing is left stale.
``reports.0002_fittedmodel_to_care`` points RefitJob at it and drops the old model from the state.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import alliance.accounts.models


def move_content_type(apps, schema_editor, source="reports", target="care"):
    """Keep the content type (and its permissions) of the moved model instead of a stale copy."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if not ContentType.objects.using(db).filter(app_label=target, model="fittedmodel").exists():
        ContentType.objects.using(db).filter(app_label=source, model="fittedmodel").update(
            app_label=target
        )


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, source="care", target="reports")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("care", "0003_client_young_child_band"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("reports", "0001_reporting_models"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="FittedModel",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "public_id",
                            models.CharField(
                                default=alliance.accounts.models.new_public_id,
                                editable=False,
                                max_length=32,
                                unique=True,
                            ),
                        ),
                        ("instrument", models.CharField(max_length=20)),
                        ("parameters", models.JSONField(help_text="EtrModel.to_dict()")),
                        ("calibration", models.JSONField(blank=True, default=dict)),
                        ("n_episodes", models.PositiveIntegerField()),
                        ("fitted_on", models.DateField()),
                        ("active", models.BooleanField(default=False)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("activated_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "agency",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="accounts.agency",
                            ),
                        ),
                        (
                            "created_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "reports_fittedmodel",
                        "ordering": ["-created_at"],
                        "indexes": [
                            models.Index(
                                fields=["agency", "instrument"], name="fitted_model_agency_idx"
                            )
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                condition=models.Q(("active", True)),
                                fields=("agency", "instrument"),
                                name="one_active_model_per_instrument",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        # ALTER TABLE ... RENAME: the rows, indexes and the refit jobs' foreign key stay as they are.
        migrations.AlterModelTable(name="fittedmodel", table=None),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
