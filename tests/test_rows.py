"""organizations.rows: hand-written statements give what the ORM gives."""

from __future__ import annotations

from datetime import UTC, datetime

from django.test import TestCase

from organizations.models import AuditEvent, Organization
from organizations.rows import insert, update


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
