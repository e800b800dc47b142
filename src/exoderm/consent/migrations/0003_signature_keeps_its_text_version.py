"""The database itself keeps a signature with the text version it was signed on.

Triggers refuse an UPDATE that moves a signature to another consent record or changes what it says
was signed (hash, language, time, signer, device, witness), and one that moves a signed record to
another template (version) or patient. Only the encrypted picture and PDF may be written again (a
data key rotation re-encrypts them). The model refuses the same in ``save()``; the triggers also
catch ``QuerySet.update()`` and raw SQL. Deleting stays possible: a record erased for good at the
end of its retention period goes with its signature.
"""

from django.db import migrations

SIGNATURE = "consent_consentsignature"
RECORD = "consent_consentrecord"
FIXED = ("record_id", "language", "text_sha256", "signed_at", "signer_name", "device", "witness_id")
MESSAGE = "a signature stays with the text version it was signed on"

SQLITE_INSTALL = [
    f"""CREATE TRIGGER consent_signature_fixed BEFORE UPDATE ON {SIGNATURE}
    WHEN {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in FIXED)}
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
    f"""CREATE TRIGGER consent_signed_record_fixed BEFORE UPDATE ON {RECORD}
    WHEN (NEW.template_id IS NOT OLD.template_id OR NEW.patient_id IS NOT OLD.patient_id)
        AND EXISTS (SELECT 1 FROM {SIGNATURE} WHERE record_id = OLD.id)
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END""",
]
SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS consent_signature_fixed",
    "DROP TRIGGER IF EXISTS consent_signed_record_fixed",
]

POSTGRES_INSTALL = [
    f"""CREATE FUNCTION consent_refuse_moving_signature() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = '{SIGNATURE}'
        OR EXISTS (SELECT 1 FROM {SIGNATURE} WHERE record_id = OLD.id) THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$""",
    f"""CREATE TRIGGER consent_signature_fixed BEFORE UPDATE ON {SIGNATURE} FOR EACH ROW
    WHEN ({" OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in FIXED)})
    EXECUTE FUNCTION consent_refuse_moving_signature()""",
    f"""CREATE TRIGGER consent_signed_record_fixed BEFORE UPDATE ON {RECORD} FOR EACH ROW
    WHEN (NEW.template_id IS DISTINCT FROM OLD.template_id OR NEW.patient_id IS DISTINCT FROM OLD.patient_id)
    EXECUTE FUNCTION consent_refuse_moving_signature()""",
]
POSTGRES_REMOVE = [
    f"DROP TRIGGER IF EXISTS consent_signature_fixed ON {SIGNATURE}",
    f"DROP TRIGGER IF EXISTS consent_signed_record_fixed ON {RECORD}",
    "DROP FUNCTION IF EXISTS consent_refuse_moving_signature()",
]


def _run(schema_editor, statements: dict[str, list[str]]) -> None:
    for statement in statements.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement, params=None)


def install(apps, schema_editor):
    _run(schema_editor, {"sqlite": SQLITE_INSTALL, "postgresql": POSTGRES_INSTALL})


def remove(apps, schema_editor):
    _run(schema_editor, {"sqlite": SQLITE_REMOVE, "postgresql": POSTGRES_REMOVE})


class Migration(migrations.Migration):
    dependencies = [("consent", "0002_consent_signature")]

    operations = [migrations.RunPython(install, remove, elidable=False)]
