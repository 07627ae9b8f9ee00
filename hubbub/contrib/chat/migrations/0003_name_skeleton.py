import django.db.models.deletion
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import migrations, models


def store_skeletons(apps, schema_editor):
    """The skeleton of every existing user's name (new and renamed users get theirs on save)."""
    from hubbub.contrib.chat.lookalikes import skeleton

    User = apps.get_model(settings.AUTH_USER_MODEL)
    NameSkeleton = apps.get_model("hubbub_chat", "NameSkeleton")
    field = get_user_model().USERNAME_FIELD
    database = schema_editor.connection.alias
    rows = (
        NameSkeleton(user_id=pk, skeleton=skeleton(str(name)))
        for pk, name in User.objects.using(database).values_list("pk", field).iterator()
    )
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == 1000:
            NameSkeleton.objects.using(database).bulk_create(batch)
            batch = []
    NameSkeleton.objects.using(database).bulk_create(batch)


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('hubbub_chat', '0002_default_room'),
    ]

    operations = [
        migrations.CreateModel(
            name='NameSkeleton',
            fields=[
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to=settings.AUTH_USER_MODEL)),
                ('skeleton', models.CharField(db_index=True, max_length=600)),
            ],
        ),
        migrations.RunPython(store_skeletons, migrations.RunPython.noop),
    ]
