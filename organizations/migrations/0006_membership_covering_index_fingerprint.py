# The covering index also carries the password-policy fingerprint: the organization lookup on
# every request reads the caller's role and fingerprint from the index alone (no heap fetch).
# Built CONCURRENTLY on PostgreSQL, as in 0003.

from django.db import migrations, models

OLD = models.Index(fields=["user", "organization"], include=("role",), name="membership_user_org_role_idx")
NEW = models.Index(
    fields=["user", "organization"], include=("role", "password_policy_fingerprint"), name="membership_user_org_idx"
)


class ReplaceIndexConcurrentlyOnPostgres(migrations.operations.base.Operation):
    reversible = True

    def __init__(self, model_name, old, new):
        self.model_name, self.old, self.new = model_name, old, new

    def state_forwards(self, app_label, state):
        state.remove_index(app_label, self.model_name, self.old.name)
        state.add_index(app_label, self.model_name, self.new)

    def _swap(self, schema_editor, model, add, remove):
        kwargs = {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}
        schema_editor.add_index(model, add, **kwargs)
        schema_editor.remove_index(model, remove, **kwargs)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            self._swap(schema_editor, model, self.new, self.old)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            self._swap(schema_editor, model, self.old, self.new)

    def describe(self):
        return f"Replace index {self.old.name} with {self.new.name}"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("organizations", "0005_security_policies"),
    ]

    operations = [ReplaceIndexConcurrentlyOnPostgres("membership", OLD, NEW)]
