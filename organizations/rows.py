"""Model instances from hand-written SQL, for the few statements that run on every API request.

The ORM compiles a queryset on every call, and `Model.objects.raw` maps columns to fields by
name on every row; on the hot path both cost more CPU than PostgreSQL spends running the
statement (bench/README.md). `Columns` does that work once per model and table alias: the
column list to put in a SELECT, and the database converters of each field, so that a slice of
a row becomes an instance exactly as the ORM would have built it (datetimes, UUIDs and JSON on
SQLite and PostgreSQL alike).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Model

Converter = Callable[[Any, Any, Any], Any]


class Columns:
    """Every concrete column of `model`, read under the table alias `alias`."""

    def __init__(self, model: type[Model], alias: str) -> None:
        self.model = model
        self.alias = alias
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [field.attname for field in self.fields]
        self._converters: list[tuple[int, list[Converter], Any]] | None = None

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

    def load(self, values: Sequence[Any]) -> Model:
        """An instance from this model's slice of a row (None columns included, as the ORM reads them)."""
        values = list(values)
        for position, functions, column in self.converters():
            value = values[position]
            for function in functions:
                value = function(value, column, connection)
            values[position] = value
        return self.model.from_db(connection.alias, self.attnames, values)
