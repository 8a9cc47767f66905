"""organizations.rows: hand-written statements give what the ORM gives."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models.signals import post_init
from django.test import TestCase

from organizations.models import AuditEvent, Organization, User
from organizations.rows import Columns, insert, update


class InsertTestCase(TestCase):
    def test_an_insert_stores_what_save_stores_and_reads_the_key_back(self) -> None:
        fields = {
            "created_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            "org_id": "org_x", "table_name": "orgs", "record_id": "org_x", "operation": "UPDATE",
            "old_record": {"name": "Zürich", "nested": [1, None, True]}, "new_record": None,
            "changed_fields": ["name"], "actor_type": "apikey", "actor_apikey_id": 7,
        }  # fmt: skip
        saved = AuditEvent.objects.create(**fields)
        inserted = insert(AuditEvent(**fields))
        self.assertEqual(inserted.pk, saved.pk + 1)
        self.assertFalse(inserted._state.adding)
        columns = [f.attname for f in AuditEvent._meta.concrete_fields if not f.primary_key]
        rows = {e["id"]: e for e in AuditEvent.objects.values("id", *columns)}
        self.assertEqual({k: v for k, v in rows[inserted.pk].items() if k != "id"},
                         {k: v for k, v in rows[saved.pk].items() if k != "id"})  # fmt: skip
        self.assertIsNone(AuditEvent.objects.get(pk=inserted.pk).new_record)  # SQL NULL, as save() writes it


class UpdateTestCase(TestCase):
    def test_an_update_writes_the_named_fields_and_stamps_auto_now(self) -> None:
        org = Organization.objects.create(name="Before", website="https://before.example")
        stamped = org.updated_at
        org.name, org.website = "After", "https://unsaved.example"
        self.assertEqual(update(org, ["name", "updated_at"]), 1)
        stored = Organization.objects.get(pk=org.pk)
        self.assertEqual((stored.name, stored.website), ("After", "https://before.example"))
        self.assertGreater(stored.updated_at, stamped)
        self.assertEqual(stored.updated_at, org.updated_at)  # the instance carries the stamp it wrote
        Organization.objects.filter(pk=org.pk).delete()
        self.assertEqual(update(org, ["name"]), 0)


class LoadTestCase(TestCase):
    """`Columns.load` builds what `Model.from_db` builds, with or without running `__init__`."""

    def row(self, columns: Columns, instance: Any) -> tuple[Any, ...]:
        """The instance's row as the database returns it for `columns` (the SELECT the API writes)."""
        qn, meta = connection.ops.quote_name, columns.model._meta
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns.select()} FROM {qn(meta.db_table)} t WHERE t.{qn(meta.pk.column)} = %s",  # noqa: S608
                [meta.pk.get_db_prep_value(instance.pk, connection)],
            )
            return cursor.fetchone()

    def assertSameInstance(self, built: Any, expected: Any) -> None:  # noqa: N802
        self.assertIs(type(built), type(expected))
        self.assertEqual({k: v for k, v in vars(built).items() if k != "_state"},
                         {k: v for k, v in vars(expected).items() if k != "_state"})  # fmt: skip
        self.assertEqual((built._state.adding, built._state.db), (False, "default"))
        self.assertEqual(built, expected)

    def test_an_instance_is_what_from_db_builds(self) -> None:
        user = User.objects.create_user(email="load@example.org", password="correct horse battery")
        org = Organization.objects.create(name="Loaded", created_by=user, password_policy_config={"enabled": True})
        for model, stored in [(Organization, org), (User, user)]:
            columns = Columns(model, "t")
            self.assertTrue(columns._plain)
            stored = model.objects.get(pk=stored.pk)
            with self.subTest(model=model.__name__):
                self.assertSameInstance(columns.load(self.row(columns, stored)), stored)
        loaded = Columns(Organization, "t").load(self.row(Columns(Organization, "t"), org))
        self.assertEqual(loaded.logo_file.name, "")  # the file descriptor still wraps the value
        self.assertEqual(loaded.created_by, user)  # and the foreign key is still followed
        some = Columns(Organization, "t", names=["id", "name"])
        partial = some.load(self.row(some, org))
        everything = {f.attname for f in Organization._meta.concrete_fields}
        self.assertEqual(partial.get_deferred_fields(), everything - {"id", "name"})

    def test_anything_listening_to_model_init_gets_from_db(self) -> None:
        org = Organization.objects.create(name="Watched")
        columns = Columns(Organization, "t")
        seen: list[Any] = []

        def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
            seen.append(instance)

        post_init.connect(receiver, sender=Organization)
        self.addCleanup(post_init.disconnect, receiver, sender=Organization)
        loaded = columns.load(self.row(columns, org))
        self.assertEqual(seen, [loaded])
