from django.db import migrations

DEFAULT_SLUG = "general"


def create_default_room(apps, schema_editor):
    Room = apps.get_model("hubbub_chat", "Room")
    Room.objects.get_or_create(slug=DEFAULT_SLUG, defaults={"name": "General"})


def remove_default_room(apps, schema_editor):
    Room = apps.get_model("hubbub_chat", "Room")
    Room.objects.filter(slug=DEFAULT_SLUG, messages__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("hubbub_chat", "0001_initial")]

    operations = [migrations.RunPython(create_default_room, remove_default_room)]
