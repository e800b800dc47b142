"""Fill the search key and phone digits of the identities recorded before they existed."""

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from exoderm.patients.search import name_key, phone_digits


def fill_search_keys(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    identities = apps.get_model("patients", "PatientIdentity")
    batch = []
    for identity in identities.objects.only("given_name", "family_name", "phone").iterator(chunk_size=1000):
        identity.search_key = name_key(identity.given_name, identity.family_name)
        identity.phone_digits = phone_digits(identity.phone)
        batch.append(identity)
        if len(batch) == 1000:
            identities.objects.bulk_update(batch, ["search_key", "phone_digits"])
            batch = []
    identities.objects.bulk_update(batch, ["search_key", "phone_digits"])


class Migration(migrations.Migration):
    dependencies = [("patients", "0003_identity_search_key")]

    # Going back drops the columns (0003), so there is nothing to undo here.
    operations = [migrations.RunPython(fill_search_keys, migrations.RunPython.noop)]
