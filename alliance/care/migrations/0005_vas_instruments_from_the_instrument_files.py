"""The 0-40 check now lists the visual analogue scales as read from the instrument files, in
alphabetical order. Same check, so state only: no table is scanned again."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("care", "0004_fittedmodel_from_reports"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="administration",
                    name="administration_vas_total_at_most_40",
                ),
                migrations.AddConstraint(
                    model_name="administration",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                (
                                    "instrument__in",
                                    ("cors", "csrs", "gsrs", "ors", "srs", "ycors", "ycsrs"),
                                ),
                                _negated=True,
                            ),
                            ("total__lte", 40),
                            _connector="OR",
                        ),
                        name="administration_vas_total_at_most_40",
                    ),
                ),
            ],
            database_operations=[],
        ),
    ]
