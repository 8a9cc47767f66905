# A covering index for the membership lookups made on nearly every request.
#
# On PostgreSQL it is built CONCURRENTLY (outside a transaction), so a large memberships table
# keeps taking writes while it builds; elsewhere it is a plain CREATE INDEX.

from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            concurrently = schema_editor.connection.vendor == "postgresql"
            schema_editor.add_index(model, self.index, **({"concurrently": True} if concurrently else {}))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            concurrently = schema_editor.connection.vendor == "postgresql"
            schema_editor.remove_index(model, self.index, **({"concurrently": True} if concurrently else {}))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("organizations", "0002_audit_append_only"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="membership",
            index=models.Index(fields=["user", "organization"], include=("role",), name="membership_user_org_role_idx"),
        ),
    ]
