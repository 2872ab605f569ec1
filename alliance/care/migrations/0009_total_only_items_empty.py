"""A total entered without items keeps its items empty (they were filled with total / n)."""

from django.db import migrations


def empty_invented_items(apps, schema_editor):
    Administration = apps.get_model("care", "Administration")
    Administration.objects.filter(total_only=True).update(items={})


class Migration(migrations.Migration):
    dependencies = [("care", "0008_session_kind_and_attendance_not_set")]

    operations = [migrations.RunPython(empty_invented_items, migrations.RunPython.noop)]
