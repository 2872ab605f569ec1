"""Two-factor per role: the single ``require_two_factor`` becomes one field per role.

An agency that required two-factor (which applied to admins and supervisors) keeps requiring it
of admins and supervisors; therapists stay as they were (not required). Reversible: going back,
the old flag is on when admins or supervisors were required.
"""

from django.db import migrations, models


def forwards(apps, schema_editor):
    Agency = apps.get_model("accounts", "Agency")
    Agency.objects.filter(require_two_factor=True).update(
        two_factor_admin=True, two_factor_supervisor=True
    )


def backwards(apps, schema_editor):
    Agency = apps.get_model("accounts", "Agency")
    Agency.objects.filter(
        models.Q(two_factor_admin=True) | models.Q(two_factor_supervisor=True)
    ).update(require_two_factor=True)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_two_factor_failures_recovery_codes"),
    ]

    operations = [
        migrations.AddField(
            model_name="agency",
            name="two_factor_admin",
            field=models.BooleanField(
                default=False, verbose_name="require two-factor sign-in for agency admins"
            ),
        ),
        migrations.AddField(
            model_name="agency",
            name="two_factor_supervisor",
            field=models.BooleanField(
                default=False, verbose_name="require two-factor sign-in for supervisors"
            ),
        ),
        migrations.AddField(
            model_name="agency",
            name="two_factor_therapist",
            field=models.BooleanField(
                default=False, verbose_name="require two-factor sign-in for therapists"
            ),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(
            model_name="agency",
            name="require_two_factor",
        ),
    ]
