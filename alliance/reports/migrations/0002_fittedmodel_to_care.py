"""FittedModel now lives in care (``care.0004_fittedmodel_from_reports`` took over its table).

State only: the refit jobs' foreign key already points at the renamed table.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("care", "0004_fittedmodel_from_reports"),
        ("reports", "0001_reporting_models"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="refitjob",
                    name="result",
                    field=models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="care.fittedmodel",
                    ),
                ),
                migrations.DeleteModel(name="FittedModel"),
            ],
            database_operations=[],
        ),
    ]
