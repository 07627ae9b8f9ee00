"""Update ids become unique: a retried publish is recognised by its id.

Histories kept before this migration may hold an id more than once (it was accepted then);
only the oldest copy of each is kept, as resuming after that id already meant resuming
after the oldest copy.
"""

from django.db import migrations, models
from django.db.models import Count, Min


def drop_duplicate_ids(apps, schema_editor):
    StoredUpdate = apps.get_model("hubbub", "StoredUpdate")
    database = schema_editor.connection.alias
    duplicated = (
        StoredUpdate.objects.using(database)
        .values("uid")
        .annotate(copies=Count("seq"), first=Min("seq"))
        .filter(copies__gt=1)
    )
    for row in duplicated.iterator():
        StoredUpdate.objects.using(database).filter(uid=row["uid"], seq__gt=row["first"]).delete()


class Migration(migrations.Migration):
    dependencies = [("hubbub", "0001_initial")]

    operations = [
        migrations.RunPython(drop_duplicate_ids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="storedupdate",
            name="uid",
            field=models.CharField(max_length=512, unique=True, verbose_name="id"),
        ),
    ]
