from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("hubbub_chat", "0003_name_skeleton")]

    operations = [
        migrations.AddField(model_name="room", name="topic", field=models.CharField(blank=True, max_length=200)),
        migrations.AddField(
            model_name="room",
            name="archived",
            field=models.BooleanField(
                default=False, help_text="An archived room is read-only and left out of the room lists."
            ),
        ),
    ]
