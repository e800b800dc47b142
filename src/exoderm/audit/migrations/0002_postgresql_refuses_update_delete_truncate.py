"""On PostgreSQL the database itself refuses to change or remove audit events.

A trigger refuses UPDATE and DELETE of any row, always. TRUNCATE is refused too, except in a
session that set ``exoderm.audit_allow_truncate`` to ``on``: Django's test runner empties every
table with one TRUNCATE after each transactional test (tests/conftest.py sets it for the test
database only). The table's owner could disable the trigger anyway (ALTER TABLE); what no one can
do unnoticed is change a row, for `exoderm manage verify_audit` would find the broken chain.
SQLite has no such trigger: there the model refuses save() of an existing event and delete().
"""

from django.db import migrations

TABLE = "audit_auditevent"

INSTALL = f"""
CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' AND current_setting('exoderm.audit_allow_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_refuse_update_delete BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_refuse_truncate BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
"""

REMOVE = f"""
DROP TRIGGER IF EXISTS audit_refuse_truncate ON {TABLE};
DROP TRIGGER IF EXISTS audit_refuse_update_delete ON {TABLE};
DROP FUNCTION IF EXISTS audit_refuse_change();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INSTALL, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REMOVE, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_audit_event")]

    operations = [migrations.RunPython(install, remove, elidable=False)]
