from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("hubbub_chat", "0007_read_markers")]

    operations = [
        migrations.AddField(
            model_name="room",
            name="is_direct",
            field=models.BooleanField(
                default=False,
                help_text="A private conversation between a fixed set of people (``direct``): its members never change.",
                verbose_name="direct messages",
            ),
        ),
    ]
