"""Warnings keep their rule's params, so that they are worded in the reader's language."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("treatments", "0002_procedure_validators"),
    ]

    operations = [
        # The column keeps its name: only the model's attribute is renamed (``message`` now words it).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RenameField(
                    model_name="protocolwarning", old_name="message", new_name="recorded_message"
                ),
                migrations.AlterField(
                    model_name="protocolwarning",
                    name="recorded_message",
                    field=models.TextField(db_column="message"),
                ),
            ],
        ),
        migrations.AddField(
            model_name="protocolwarning",
            name="params",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
