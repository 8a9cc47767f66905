"""On PostgreSQL the audit table refuses UPDATE and DELETE, whoever asks (the app, the admin, psql)."""

from __future__ import annotations

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION organizations_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER organizations_auditevent_append_only
    BEFORE UPDATE OR DELETE ON organizations_auditevent
    FOR EACH ROW EXECUTE FUNCTION organizations_auditevent_append_only();
"""
DROP = """
DROP TRIGGER IF EXISTS organizations_auditevent_append_only ON organizations_auditevent;
DROP FUNCTION IF EXISTS organizations_auditevent_append_only();
"""


def forwards(apps, schema_editor) -> None:  # noqa: ANN001
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def backwards(apps, schema_editor) -> None:  # noqa: ANN001
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("organizations", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
