"""Check that the audit log and the rows agree; exit 1 (listing the problems) when they do not.

    DATABASE_URL=... .venv/bin/python bench/check_consistency.py

Every change is audited in its own transaction, so after any amount of concurrent traffic:
- every organization has exactly one INSERT event and no DELETE event; every organization with a
  DELETE event is gone, and was inserted exactly once;
- for every (organization, user), membership INSERT events minus DELETE events is 1 when the
  membership exists and 0 when it does not;
- every invitation and every API key has its INSERT event;
- every organization keeps at least one super_admin.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "capgo_org.settings")


def main() -> int:
    import django

    django.setup()
    from organizations.models import ApiKey, AuditEvent, Invitation, Membership, Organization

    Table, Op = AuditEvent.Table, AuditEvent.Operation
    problems: list[str] = []

    org_events: Counter[tuple[str, str]] = Counter()
    member_net: Counter[tuple[str | None, str]] = Counter()
    invitation_inserts: set[str] = set()
    key_inserts: set[str] = set()
    fields = ("table_name", "operation", "org_id", "record_id", "old_record", "new_record")
    events = 0
    for table, operation, org_id, record_id, old, new in AuditEvent.objects.values_list(*fields).iterator(2000):
        events += 1
        if table == Table.ORGS:
            org_events[(record_id, operation)] += 1
        elif table == Table.ORG_USERS:
            snapshot = new or old or {}
            if "invitation_id" in snapshot:
                if operation == Op.INSERT:
                    invitation_inserts.add(record_id)
            elif operation == Op.INSERT:
                member_net[(org_id, record_id)] += 1
            elif operation == Op.DELETE:
                member_net[(org_id, record_id)] -= 1
        elif table == Table.APIKEYS and operation == Op.INSERT:
            key_inserts.add(record_id)

    org_ids = set(Organization.objects.values_list("id", flat=True))
    for org_id in org_ids:
        if org_events[(org_id, Op.INSERT)] != 1:
            problems.append(f"organization {org_id}: {org_events[(org_id, Op.INSERT)]} INSERT events, expected 1")
        if org_events[(org_id, Op.DELETE)]:
            problems.append(f"organization {org_id} exists but has a DELETE event")
    deleted = {record_id for (record_id, op), n in org_events.items() if op == Op.DELETE}
    for org_id in deleted:
        if org_events[(org_id, Op.DELETE)] != 1 or org_events[(org_id, Op.INSERT)] != 1:
            problems.append(f"deleted organization {org_id}: events {org_events[(org_id, Op.INSERT)]} INSERT, "
                            f"{org_events[(org_id, Op.DELETE)]} DELETE, expected one of each")  # fmt: skip

    memberships = {(org, str(user)) for org, user in Membership.objects.values_list("organization_id", "user_id")}
    for pair in memberships | {p for p, n in member_net.items() if n}:
        expected = 1 if pair in memberships else 0
        if member_net[pair] != expected:
            problems.append(f"membership {pair}: INSERT minus DELETE events is {member_net[pair]}, expected {expected}")

    for invitation_id in Invitation.objects.values_list("id", flat=True):
        if str(invitation_id) not in invitation_inserts:
            problems.append(f"invitation {invitation_id} has no INSERT event")
    for key_id in ApiKey.objects.values_list("id", flat=True):
        if str(key_id) not in key_inserts:
            problems.append(f"API key {key_id} has no INSERT event")

    with_super_admin = set(
        Membership.objects.filter(role=Membership.Role.SUPER_ADMIN).values_list("organization_id", flat=True)
    )
    for org_id in org_ids - with_super_admin:
        problems.append(f"organization {org_id} has no super_admin")

    print(
        f"consistency: {events} audit events; {len(org_ids)} organizations ({len(deleted)} deleted); "
        f"{len(memberships)} memberships; {Invitation.objects.count()} invitations; {ApiKey.objects.count()} keys"
    )
    for problem in problems[:50]:
        print("INCONSISTENT:", problem)
    if problems:
        print(f"{len(problems)} inconsistencies")
        return 1
    print("consistency: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
