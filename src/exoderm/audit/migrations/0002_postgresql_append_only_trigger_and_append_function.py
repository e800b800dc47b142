"""On PostgreSQL the database itself refuses to change or remove audit events, and appends them.

A trigger refuses UPDATE and DELETE of any row, always. TRUNCATE is refused too, except in a
session that set ``exoderm.audit_allow_truncate`` to ``on``: Django's test runner empties every
table with one TRUNCATE after each transactional test (tests/conftest.py sets it for the test
database only). The table's owner could disable the trigger anyway (ALTER TABLE); what no one can
do unnoticed is change a row, for `exoderm manage verify_audit` would find the broken chain.
SQLite has no such trigger: there the model refuses save() of an existing event and delete().

It also installs ``audit_append``, which links and inserts an event in one round trip (see
``exoderm.audit.chain``; the hash formula there and here must stay the same).
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

CREATE FUNCTION audit_append(
    own_transaction boolean, body text, p_chain bigint, p_at timestamptz, p_action varchar,
    p_channel varchar, p_user_id bigint, p_username varchar, p_role varchar, p_clinic_id bigint,
    p_object_type varchar, p_object_id varchar, p_patient_id bigint, p_changes jsonb, p_route varchar,
    p_query jsonb, p_ip varchar, p_user_agent varchar, p_request_id varchar
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash varchar(64);
BEGIN
    -- One writer per chain until this transaction ends; the SELECT below then sees the last link.
    PERFORM pg_advisory_xact_lock(16725, (p_chain % 2147483648)::integer);
    IF own_transaction THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    SELECT seq, hash INTO last_seq, last_hash FROM {TABLE} WHERE chain = p_chain ORDER BY seq DESC LIMIT 1;
    IF NOT FOUND THEN
        last_seq := 0;
        last_hash := repeat('0', 64);
    END IF;
    INSERT INTO {TABLE} (
        chain, at, action, channel, user_id, username, role, clinic_id, object_type, object_id,
        patient_id, changes, route, query, ip, user_agent, request_id, seq, prev_hash, hash
    ) VALUES (
        p_chain, p_at, p_action, p_channel, p_user_id, p_username, p_role, p_clinic_id, p_object_type,
        p_object_id, p_patient_id, p_changes, p_route, p_query, p_ip, p_user_agent, p_request_id,
        last_seq + 1, last_hash,
        encode(sha256(convert_to(last_hash || ':' || (last_seq + 1)::text || ':' || body, 'UTF8')), 'hex')
    );
END;
$$;
"""

REMOVE = f"""
DROP TRIGGER IF EXISTS audit_refuse_truncate ON {TABLE};
DROP TRIGGER IF EXISTS audit_refuse_update_delete ON {TABLE};
DROP FUNCTION IF EXISTS audit_refuse_change();
DROP FUNCTION IF EXISTS audit_append(
    boolean, text, bigint, timestamptz, varchar, varchar, bigint, varchar, varchar, bigint, varchar,
    varchar, bigint, jsonb, varchar, jsonb, varchar, varchar, varchar
);
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
