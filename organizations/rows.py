"""Model instances from hand-written SQL, for the few statements that run on every API request.

The ORM compiles a queryset on every call, and `Model.objects.raw` maps columns to fields by
name on every row; on the hot path both cost more CPU than PostgreSQL spends running the
statement (bench/README.md). `Columns` does that work once per model and table alias: the
column list to put in a SELECT, and the database converters of each field, so that a slice of
a row becomes an instance exactly as the ORM would have built it (datetimes, UUIDs and JSON on
SQLite and PostgreSQL alike).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.fields.files import FileDescriptor, ImageFileDescriptor
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

Converter = Callable[[Any, Any, Any], Any]


class Columns:
    """Every concrete column of `model` (or those of the fields `names`, in that order), read under the
    table alias `alias`."""

    def __init__(self, model: type[Model], alias: str, names: Sequence[str] | None = None) -> None:
        self.model = model
        self.alias = alias
        if names is None:
            self.fields = list(model._meta.concrete_fields)
        else:
            self.fields = [model._meta.get_field(name) for name in names]
        self.attnames = [field.attname for field in self.fields]
        self._converters: list[tuple[int, list[Converter], Any]] | None = None
        self._plain = _builds_plainly(model, self.attnames)

    def __len__(self) -> int:
        return len(self.fields)

    def select(self) -> str:
        """The columns for a SELECT list: `alias."column", …`."""
        qn = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{qn(field.column)}" for field in self.fields)

    def converters(self) -> list[tuple[int, list[Converter], Any]]:
        """(position, converters, expression) of each column that needs converting, as the ORM's compiler
        finds them; worked out on first use (the database is known by then)."""
        if self._converters is None:
            found = []
            for position, field in enumerate(self.fields):
                column = field.get_col(self.alias)
                functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if functions:
                    found.append((position, functions, column))
            self._converters = found
        return self._converters

    def values(self, values: Sequence[Any]) -> list[Any]:
        """The Python values of this slice of a row, as the ORM converts them."""
        values = list(values)
        for position, functions, column in self.converters():
            values[position] = _converted(values[position], functions, column)
        return values

    def dicts(self, rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """Each row's leading slice as `{attname: value}`, converted as by `values` (what `.values()`
        gives); the columns after this slice are left out."""
        names, converters = self.attnames, self.converters()
        found = [dict(zip(names, row, strict=False)) for row in rows]
        for position, functions, column in converters:
            name = names[position]
            for values in found:
                values[name] = _converted(values[name], functions, column)
        return found

    def load(self, values: Sequence[Any]) -> Model:
        """An instance from this model's slice of a row (None columns included, as the ORM reads them).

        What `Model.from_db` builds, without running `Model.__init__` when it would only set each
        value (see `_builds_plainly`): the instance's attributes and its state, set directly."""
        values = self.values(values)
        if not self._plain or pre_init.receivers or post_init.receivers:
            return self.model.from_db(DEFAULT_DB_ALIAS, self.attnames, values)
        instance = self.model.__new__(self.model)
        state = ModelState()
        state.adding = False
        state.db = DEFAULT_DB_ALIAS
        attributes = instance.__dict__
        attributes["_state"] = state
        attributes.update(zip(self.attnames, values, strict=True))
        return instance


# Descriptors whose __set__, on an instance being built, only stores the value in its __dict__.
_PLAIN_DESCRIPTORS = {DeferredAttribute, ForeignKeyDeferredAttribute, FileDescriptor, ImageFileDescriptor}


def _builds_plainly(model: type[Model], attnames: Sequence[str]) -> bool:
    """True when `model.from_db` would build an instance by setting `attnames` one by one: the model
    has no `__init__` or `from_db` of its own, and each attribute is one of Django's descriptors that
    store the value as it is (an ImageField's updates its dimensions only on a change of file).
    `pre_init`/`post_init` receivers are checked on each load: anything listening gets `from_db`."""
    if model.__init__ is not Model.__init__ or model.from_db.__func__ is not Model.from_db.__func__:  # type: ignore[attr-defined]
        return False
    return all(type(inspect.getattr_static(model, name, None)) in _PLAIN_DESCRIPTORS for name in attnames)


def uuid_text(column: str) -> str:
    """SQL reading the UUID column `column` (`alias."name"`) as its canonical text, as `str(uuid)`
    writes it: PostgreSQL casts its uuid type; SQLite stores Django's UUIDs as 32 lowercase hex
    digits, which the expression punctuates. NULL stays NULL."""
    if connection.vendor == "postgresql":
        return f"CAST({column} AS text)"
    return (
        f"(substr({column}, 1, 8) || '-' || substr({column}, 9, 4) || '-' || substr({column}, 13, 4) "
        f"|| '-' || substr({column}, 17, 4) || '-' || substr({column}, 21, 12))"
    )


def reader(model: type[Model], name: str) -> Callable[[Any], Any]:
    """A function turning what the database returns for `model.name` into its Python value, as the
    ORM would (a datetime from SQLite's text, for one); None stays None."""
    field = model._meta.get_field(name)
    column = field.get_col(model._meta.db_table)
    functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)

    def read(value: Any) -> Any:
        return _converted(value, functions, column)

    return read if functions else _same


def _converted(value: Any, functions: Sequence[Converter], column: Any) -> Any:
    """`value` as the database returned it for `column`, through the ORM's converters of that column."""
    for function in functions:
        value = function(value, column, connection)
    return value


def _same(value: Any) -> Any:
    return value


@cache
def _insert_plan(model: type[Model]) -> tuple[str, list[Any], list[Callable[[Any], Any]]]:
    """The INSERT of a new row of `model` as `Model.save()` writes it (every local concrete column
    but an auto-generated key, which comes back by RETURNING), with what reads the returned values."""
    meta = model._meta
    qn = connection.ops.quote_name
    fields = [field for field in meta.local_concrete_fields if field is not meta.auto_field]
    returning = list(meta.db_returning_fields)
    sql = (
        f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(field.column) for field in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    if returning:
        sql += f" RETURNING {', '.join(qn(field.column) for field in returning)}"
    return sql, fields, [reader(model, field.attname) for field in returning]


def insert(instance: Model) -> Model:
    """Save the new `instance` with one INSERT whose text is written once per model: what
    `save()` does for a new row (the fields' `pre_save` and database preparation, the generated
    key read back), without compiling the statement each time. For rows written by every write
    request, such as audit events. Like `bulk_create`, it sends no signals; where the database
    cannot return the key from an INSERT, it is `save()`."""
    if not connection.features.can_return_columns_from_insert:
        instance.save(force_insert=True)
        return instance
    sql, fields, readers = _insert_plan(type(instance))
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        returned = cursor.fetchone() if readers else ()
    for field, read, value in zip(type(instance)._meta.db_returning_fields, readers, returned, strict=True):
        setattr(instance, field.attname, read(value))
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance


@cache
def _update_sql(model: type[Model], names: tuple[str, ...]) -> tuple[str, list[Any]]:
    meta = model._meta
    qn = connection.ops.quote_name
    fields = [meta.get_field(name) for name in names]
    assignments = ", ".join(f"{qn(field.column)} = %s" for field in fields)
    sql = f"UPDATE {qn(meta.db_table)} SET {assignments} WHERE {qn(meta.pk.column)} = %s"  # noqa: S608
    return sql, fields


def update(instance: Model, names: Sequence[str]) -> int:
    """`instance.save(update_fields=names)` as one UPDATE whose text is written once per model and
    fields (the fields' `pre_save`, so `auto_now` ones are stamped, and database preparation, as
    save() does). Sends no signals. Returns the number of rows updated (0: the row is gone)."""
    sql, fields = _update_sql(type(instance), tuple(names))
    values = [field.get_db_prep_save(field.pre_save(instance, False), connection) for field in fields]
    pk = instance._meta.pk.get_db_prep_value(instance.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, pk])
        return cursor.rowcount
