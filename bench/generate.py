"""Load the benchmark's data set into a migrated, empty PostgreSQL database, fast.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/capgo_bench .venv/bin/python bench/generate.py \
        [--scale default|large] [--keys-out bench/results/keys.json]

Bulk rows are made by PostgreSQL itself (INSERT … SELECT over generate_series), so nothing
travels through Python but the API keys, which need `organizations.api_keys.generate_key`
(their plaintexts exist only here; the ones the benchmark uses are written to --keys-out).

Ids are derived from row numbers (users: md5('u'||n)::uuid, organizations: 'org_'||md5('o'||n)),
so a membership can name its user and organization without a join, and Python can name the
same rows. Foreign keys are not re-checked row by row during the load
(session_replication_role=replica); the generator builds only consistent rows.

The data set (default scale; `large` in parentheses):
- 100,000 users (1,000,000), unusable passwords;
- 10,000 organizations (1,000,000), each with 20 members (5): one super_admin, one admin, …;
- 20,000 API keys (200,000), one per super_admin/admin/writer of the first organizations;
- two audit events per organization (its creation and its first member);
- the benchmark's fixtures: 20 users who are members of 50 organizations each, 20 organizations
  with 100 members and 5 pending invitations each, 20 organizations with 60 audit events each.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from organizations.api_keys import generate_key  # noqa: E402 - plain Python, no Django needed

SCALES: dict[str, dict[str, int]] = {
    "small": {"orgs": 1_000, "users": 10_000, "memberships": 20_000, "keys": 2_000},
    "default": {"orgs": 10_000, "users": 100_000, "memberships": 200_000, "keys": 20_000},
    "large": {"orgs": 1_000_000, "users": 1_000_000, "memberships": 5_000_000, "keys": 200_000},
}
FIXTURES = 20  # of each kind: 50-org users, 100-member organizations, audited organizations
LIST_ORGS = 50
BIG_ORG_MEMBERS = 100
BIG_ORG_INVITATIONS = 5
AUDIT_EVENTS = 60
# Key pairs (plaintext, orgId) the benchmark rotates through, by endpoint.
READ_PAIRS, PUT_PAIRS, INVITE_PAIRS = 1000, 200, 200

# The user of member slot `j` of general organization `o`: distinct within an organization
# (j * 4999 < users) and spread over all users (9973 is prime and divides no power of ten).
GENERAL_MEMBER = "(({o}::bigint * 9973 + {j} * 4999) %% {users})"
BIG_ORG_MEMBER = "(({i} * 31337 + {j} * 997 + 12345) %% {users})"
AUDIT_ORG_MEMBER = "(({i} * 7919 + {j} * 1231 + 777) %% {users})"


def user_uuid(prefix: str, n: int) -> uuid.UUID:
    """The same id PostgreSQL computes as md5(prefix || n)::uuid."""
    return uuid.UUID(hashlib.md5(f"{prefix}{n}".encode()).hexdigest())  # noqa: S324 - an id, not a secret


def org_id(prefix: str, n: int) -> str:
    return "org_" + hashlib.md5(f"{prefix}{n}".encode()).hexdigest()  # noqa: S324


def general_member(o: int, j: int, users: int) -> int:
    return (o * 9973 + j * 4999) % users


def general_role(j: str) -> str:
    return (
        f"(CASE WHEN {j} = 0 THEN 'super_admin' WHEN {j} = 1 THEN 'admin' "
        f"WHEN {j} %% 3 = 0 THEN 'read' ELSE 'write' END)"
    )


LOADED_TABLES = ("organizations_user", "account_emailaddress", "organizations_organization",
                 "organizations_membership", "organizations_invitation", "organizations_auditevent")  # fmt: skip


def drop_secondary_indexes(conn: psycopg.Connection, tables: tuple[str, ...]) -> list[str]:
    """Drop every index and unique constraint of `tables` but the primary keys; return the SQL to restore them."""
    constraints = conn.execute(
        """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
           WHERE contype = 'u' AND conrelid::regclass::text = ANY(%s)""",
        [list(tables)],
    ).fetchall()
    indexes = conn.execute(
        """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
           WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
        [list(tables)],
    ).fetchall()
    with conn.transaction():
        for table, name, _definition in constraints:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _definition in indexes:
            conn.execute(f"DROP INDEX {name}")
    return [definition for _name, definition in indexes] + [
        f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for table, name, definition in constraints
    ]


# (table, column, SQL literal): NOT NULL columns with a Python-side default only.
PYTHON_DEFAULTS = [
    ("organizations_organization", "enforcing_2fa", "false"),
    ("organizations_membership", "password_policy_fingerprint", "''"),
]


def load(conn: psycopg.Connection, scale: dict[str, int], keys_out: Path) -> dict[str, Any]:
    users, orgs, memberships, n_keys = scale["users"], scale["orgs"], scale["memberships"], scale["keys"]
    general = orgs - 2 * FIXTURES
    per_org = memberships // orgs
    if per_org < 3 or per_org * 4999 >= users or general < READ_PAIRS + PUT_PAIRS + INVITE_PAIRS:
        raise SystemExit(f"unsupported scale: {scale}")
    if (n_keys - 3 * FIXTURES) > general * 3:
        raise SystemExit("too many keys for the organizations' super_admins, admins and writers")
    timings: dict[str, float] = {}

    def step(name: str, sql: str, params: dict[str, Any] | None = None) -> None:
        started = time.perf_counter()
        with conn.transaction():
            conn.execute(sql, params)  # type: ignore[arg-type]
        timings[name] = round(time.perf_counter() - started, 2)
        print(f"  {name:<28} {timings[name]:>6.2f} s", flush=True)

    conn.execute("SET session_replication_role = replica")
    conn.execute("SET synchronous_commit = off")
    conn.execute("SET maintenance_work_mem = '512MB'")
    # Building an index once over sorted data is far cheaper than updating it row by row in
    # random order (5,000,000 memberships: minutes instead of seconds), so the secondary
    # indexes and unique constraints go away during the load and come back after it.
    rebuild = drop_secondary_indexes(conn, LOADED_TABLES)
    # Columns whose default Django applies in Python get it from the database during the load
    # (the INSERTs below name only the columns the data set varies), and lose it afterwards.
    with conn.transaction():
        for table, column, value in PYTHON_DEFAULTS:
            conn.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET DEFAULT {value}")
    now = datetime.now(UTC)
    p = {"now": now, "users": users, "general": general}

    step(
        "users",
        """
        INSERT INTO organizations_user
            (id, password, is_superuser, email, name, avatar, language, is_staff, is_active, date_joined)
        SELECT md5('u' || n)::uuid, '!' || md5('p' || n), false, 'u' || n || '@bench.test', 'User ' || n, '', '',
               false, true, %(now)s - make_interval(secs => %(users)s - n)
        FROM generate_series(0, %(users)s - 1) AS n
        UNION ALL
        SELECT md5('l' || n)::uuid, '!' || md5('lp' || n), false, 'list' || n || '@bench.test', 'Lister ' || n, '',
               '', false, true, %(now)s
        FROM generate_series(0, %(fixtures)s - 1) AS n
        """,
        p | {"fixtures": FIXTURES},
    )
    # Every address verified, as after sign-up: keys of unverified accounts are refused.
    step(
        "email addresses",
        """INSERT INTO account_emailaddress (user_id, email, verified, "primary")
           SELECT id, email, true, true FROM organizations_user""",
    )
    org_columns = """(id, name, management_email, website, logo_file, logo_url, customer_id,
                      require_apikey_expiration, max_apikey_expiration_days, created_by_id, created_at, updated_at)"""
    step(
        "organizations",
        f"""
        INSERT INTO organizations_organization {org_columns}
        SELECT 'org_' || md5('o' || o), 'Organization ' || o, 'billing' || o || '@bench.test',
               'https://org' || o || '.bench.test/', '', NULL::varchar, NULL::varchar, false, NULL::smallint,
               md5('u' || {GENERAL_MEMBER.format(o="o", j=0, users="%(users)s")})::uuid,
               %(now)s - make_interval(secs => %(general)s - o), %(now)s
        FROM generate_series(0, %(general)s - 1) AS o
        UNION ALL
        SELECT 'org_' || md5('mo' || i), 'Big organization ' || i, 'big' || i || '@bench.test', NULL, '', NULL,
               NULL, false, NULL, md5('u' || {BIG_ORG_MEMBER.format(i="i", j=0, users="%(users)s")})::uuid,
               %(now)s, %(now)s
        FROM generate_series(0, %(fixtures)s - 1) AS i
        UNION ALL
        SELECT 'org_' || md5('ao' || i), 'Audited organization ' || i, 'audit' || i || '@bench.test', NULL, '',
               NULL, NULL, false, NULL, md5('u' || {AUDIT_ORG_MEMBER.format(i="i", j=0, users="%(users)s")})::uuid,
               %(now)s, %(now)s
        FROM generate_series(0, %(fixtures)s - 1) AS i
        """,
        p | {"fixtures": FIXTURES},
    )
    step(
        "memberships",
        f"""
        INSERT INTO organizations_membership (role, created_at, updated_at, user_id, organization_id)
        SELECT {general_role("j")}, %(now)s, %(now)s,
               md5('u' || {GENERAL_MEMBER.format(o="o", j="j", users="%(users)s")})::uuid, 'org_' || md5('o' || o)
        FROM generate_series(0, %(general)s - 1) AS o, generate_series(0, %(per_org)s - 1) AS j
        UNION ALL
        SELECT 'read', %(now)s, %(now)s, md5('l' || i)::uuid, 'org_' || md5('o' || ((i * 500 + k * 197) %% %(general)s))
        FROM generate_series(0, %(fixtures)s - 1) AS i, generate_series(0, %(list_orgs)s - 1) AS k
        UNION ALL
        SELECT {general_role("j")}, %(now)s + make_interval(secs => j), %(now)s,
               md5('u' || {BIG_ORG_MEMBER.format(i="i", j="j", users="%(users)s")})::uuid, 'org_' || md5('mo' || i)
        FROM generate_series(0, %(fixtures)s - 1) AS i, generate_series(0, %(big)s - 1) AS j
        UNION ALL
        SELECT {general_role("j")}, %(now)s, %(now)s,
               md5('u' || {AUDIT_ORG_MEMBER.format(i="i", j="j", users="%(users)s")})::uuid, 'org_' || md5('ao' || i)
        FROM generate_series(0, %(fixtures)s - 1) AS i, generate_series(0, 9) AS j
        """,
        p | {"per_org": per_org, "fixtures": FIXTURES, "list_orgs": LIST_ORGS, "big": BIG_ORG_MEMBERS},
    )
    step(
        "invitations",
        """
        INSERT INTO organizations_invitation
            (id, email, role, status, token_hash, expires_at, created_at, updated_at, invited_by_id, organization_id)
        SELECT md5('inv' || i || '-' || k)::uuid, 'pending' || i || '-' || k || '@bench.test', 'read', 'pending',
               md5('t' || i || '-' || k) || md5('h' || i || '-' || k), %(now)s + interval '7 days', %(now)s,
               %(now)s, NULL, 'org_' || md5('mo' || i)
        FROM generate_series(0, %(fixtures)s - 1) AS i, generate_series(0, %(invitations)s - 1) AS k
        """,
        p | {"fixtures": FIXTURES, "invitations": BIG_ORG_INVITATIONS},
    )
    step(
        "audit events",
        """
        INSERT INTO organizations_auditevent
            (created_at, org_id, table_name, record_id, operation, old_record, new_record, changed_fields,
             actor_type, actor_user_id, actor_user_email, actor_apikey_id, actor_apikey_name)
        SELECT o.created_at, o.id, t.table_name,
               CASE WHEN t.table_name = 'orgs' THEN o.id ELSE o.created_by_id::text END,
               'INSERT', NULL::jsonb,
               CASE WHEN t.table_name = 'orgs'
                    THEN jsonb_build_object('id', o.id, 'name', o.name, 'management_email', o.management_email)
                    ELSE jsonb_build_object('org_id', o.id, 'user_id', o.created_by_id::text, 'role', 'super_admin')
               END,
               NULL::jsonb, 'user', o.created_by_id::text, NULL::varchar, NULL::bigint, NULL::varchar
        FROM organizations_organization o, (VALUES ('orgs'), ('org_users')) AS t (table_name)
        UNION ALL
        SELECT %(now)s - make_interval(secs => e), 'org_' || md5('ao' || i),
               (ARRAY['orgs', 'org_users', 'apikeys'])[1 + e %% 3], 'record-' || e,
               (ARRAY['INSERT', 'UPDATE', 'DELETE'])[1 + (e / 3) %% 3],
               jsonb_build_object('name', 'Before ' || e, 'role', 'read'),
               jsonb_build_object('name', 'After ' || e, 'role', 'write'),
               jsonb_build_array('name', 'role'), 'apikey', md5('u' || i)::uuid::text, 'u' || i || '@bench.test',
               e, 'bench key'
        FROM generate_series(0, %(fixtures)s - 1) AS i, generate_series(0, %(events)s - 1) AS e
        """,
        p | {"fixtures": FIXTURES, "events": AUDIT_EVENTS},
    )

    started = time.perf_counter()
    for statement in rebuild:
        conn.execute(statement)
    with conn.transaction():
        for table, column, _value in PYTHON_DEFAULTS:
            conn.execute(f"ALTER TABLE {table} ALTER COLUMN {column} DROP DEFAULT")
    timings["indexes"] = round(time.perf_counter() - started, 2)
    print(f"  {'indexes and constraints':<28} {timings['indexes']:>6.2f} s", flush=True)

    # API keys: general key k belongs to member slot k // general (super_admin, admin, writer)
    # of general organization k % general; then one key per fixture holder.
    started = time.perf_counter()
    holders: list[tuple[uuid.UUID, str, str]] = []  # (user id, mode, org id it is paired with)
    for k in range(n_keys - 3 * FIXTURES):
        o, j = k % general, k // general
        holders.append((user_uuid("u", general_member(o, j, users)), "all" if j < 2 else "write", org_id("o", o)))
    for i in range(FIXTURES):
        holders.append((user_uuid("l", i), "read", ""))
    for i in range(FIXTURES):
        holders.append((user_uuid("u", (i * 31337 + 12345) % users), "read", org_id("mo", i)))
    for i in range(FIXTURES):
        holders.append((user_uuid("u", (i * 7919 + 777) % users), "read", org_id("ao", i)))
    plaintexts: list[str] = []
    seen: set[str] = set()
    with conn.transaction(), conn.cursor() as cursor:
        copy_sql = """COPY organizations_apikey (name, mode, lookup, digest, is_limited, expires_at, last_used_at,
                      revoked_at, created_at, updated_at, user_id) FROM STDIN"""
        with cursor.copy(copy_sql) as copy:
            for n, (user, mode, _org) in enumerate(holders):
                new = generate_key()
                while new.lookup in seen:
                    new = generate_key()
                seen.add(new.lookup)
                plaintexts.append(new.plaintext)
                copy.write_row(
                    (f"bench key {n}", mode, new.lookup, new.digest, False, None, None, None, now, now, user)
                )
    timings["api keys"] = round(time.perf_counter() - started, 2)
    print(f"  {'api keys':<28} {timings['api keys']:>6.2f} s", flush=True)

    fixtures_start = n_keys - 3 * FIXTURES
    keys = {
        # Super_admins (j = 0) of general organizations, each request a different key and organization.
        "read": [[plaintexts[k], holders[k][2]] for k in range(READ_PAIRS)],
        "put": [[plaintexts[k], holders[k][2]] for k in range(READ_PAIRS, READ_PAIRS + PUT_PAIRS)],
        "invite": [
            [plaintexts[k], holders[k][2]] for k in range(READ_PAIRS + PUT_PAIRS, READ_PAIRS + PUT_PAIRS + INVITE_PAIRS)
        ],
        "list": [[plaintexts[fixtures_start + i], ""] for i in range(FIXTURES)],
        "members": [
            [plaintexts[fixtures_start + FIXTURES + i], holders[fixtures_start + FIXTURES + i][2]]
            for i in range(FIXTURES)
        ],
        "audit": [
            [plaintexts[fixtures_start + 2 * FIXTURES + i], holders[fixtures_start + 2 * FIXTURES + i][2]]
            for i in range(FIXTURES)
        ],
    }
    keys_out.parent.mkdir(parents=True, exist_ok=True)
    keys_out.write_text(json.dumps(keys, indent=1))
    os.chmod(keys_out, 0o600)

    conn.execute("SET session_replication_role = origin")
    started = time.perf_counter()
    # Fresh statistics and a visibility map, as autovacuum would leave them: index-only scans need both.
    conn.execute("VACUUM (ANALYZE)")
    timings["vacuum analyze"] = round(time.perf_counter() - started, 2)
    print(f"  {'vacuum analyze':<28} {timings['vacuum analyze']:>6.2f} s", flush=True)
    counts = {
        table: conn.execute(f"SELECT count(*) FROM organizations_{table}").fetchone()[0]  # type: ignore[index]
        for table in ("user", "organization", "membership", "apikey", "invitation", "auditevent")
    }
    return {"counts": counts, "timings": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=sorted(SCALES), default="default")
    parser.add_argument("--keys-out", type=Path, default=ROOT / "bench" / "results" / "keys.json")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        raise SystemExit("DATABASE_URL must point at a migrated, empty PostgreSQL database")
    started = time.perf_counter()
    print(f"Generating the {args.scale} data set …", flush=True)
    with psycopg.connect(args.database_url, autocommit=True) as conn:
        if conn.execute("SELECT EXISTS (SELECT 1 FROM organizations_organization)").fetchone()[0]:  # type: ignore[index]
            raise SystemExit("the database already has organizations: generate into an empty one")
        report = load(conn, SCALES[args.scale], args.keys_out)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(f"  rows: {report['counts']}  ({report['seconds']} s)", flush=True)


if __name__ == "__main__":
    main()
