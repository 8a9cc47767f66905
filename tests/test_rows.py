"""organizations.rows: hand-written statements give what the ORM gives."""

from __future__ import annotations

from datetime import UTC, datetime

from django.test import TestCase

from organizations.models import AuditEvent
from organizations.rows import insert


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
