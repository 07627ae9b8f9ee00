"""The index of message search (``hubbub.contrib.chat.search``): an expression GIN index on
PostgreSQL, an FTS5 table kept in sync by triggers on SQLite; nothing on other databases."""

from django.db import migrations


def install(apps, schema_editor):
    from hubbub.contrib.chat import search

    search.install(schema_editor.connection)


def uninstall(apps, schema_editor):
    from hubbub.contrib.chat import search

    search.uninstall(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("hubbub_chat", "0008_room_direct")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
