"""Many rows into one table at once: ``COPY`` on PostgreSQL, the driver's own executemany on SQLite.

A burst of alerts (a district's water cut) inserts thousands of alerts and as many audit events
in one tick. SQLAlchemy's insert runs each value of each row through its column type's bind
processing, one call a value; psycopg's executemany adapts every parameter in Python, one statement
a row. Here each column's values are processed once per distinct value (a burst's rows share their
times and kinds), then go to the database in one ``COPY`` or in the sqlite3 module's executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from psycopg import sql
from sqlalchemy import Column, Table, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session


def insert_rows(session: Session, table: Table, rows: Sequence[dict]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the session's transaction.

    Columns left out get their server default, or their scalar Python default as an executemany
    would give them. Values go through each column type's bind processing, as SQLAlchemy's own
    insert would send them.
    """
    if not rows:
        return
    connection = session.connection()
    columns, values = _bound_rows(table, rows, connection.dialect)
    if connection.dialect.name == "postgresql":
        _copy(connection, table, columns, values)
    else:
        connection.exec_driver_sql(_insert_sql(connection.dialect, table, columns, 1), values)


def insert_rows_returning_ids(session: Session, table: Table, rows: Sequence[dict], key: Sequence[str]) -> list[int]:
    """Insert ``rows`` as ``insert_rows`` does and return their new ids, in the order of ``rows``.

    ``key`` names columns whose values tell the rows apart. On PostgreSQL the ids are drawn from
    the table's sequence in one query and go in with the rows by ``COPY`` (psycopg parses a long
    multi-row ``RETURNING`` batch's text in Python: 2 to 3 times slower). On SQLite the rows go in
    as multi-row ``INSERT ... RETURNING`` statements, whose returned rows come in no promised
    order, so they are matched back to ``rows`` by ``key``.
    """
    if not rows:
        return []
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        ids = connection.scalars(text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
                                 {"table": table.name, "n": len(rows)}).all()
        columns, values = _bound_rows(table, [{**row, "id": row_id} for row, row_id in zip(rows, ids)],
                                      connection.dialect)
        _copy(connection, table, columns, values)
        return ids
    columns, values = _bound_rows(table, rows, connection.dialect)
    at = [[column.name for column in columns].index(name) for name in key]
    per_statement = max(1, connection.dialect.insertmanyvalues_max_parameters // len(columns))
    returning = " RETURNING " + ", ".join(map(connection.dialect.identifier_preparer.quote, ["id", *key]))
    by_key: dict[tuple, int] = {}
    for start in range(0, len(values), per_statement):
        batch = values[start:start + per_statement]
        statement = _insert_sql(connection.dialect, table, columns, len(batch)) + returning
        by_key.update((tuple(returned[1:]), returned[0])
                      for returned in connection.exec_driver_sql(statement, tuple(v for row in batch for v in row)))
    return [by_key[tuple(row[i] for i in at)] for row in values]


def _bound_rows(table: Table, rows: Sequence[dict], dialect: Dialect) -> tuple[list[Column], list[tuple]]:
    """The columns to send and each row's values as the driver takes them, scalar Python defaults
    filled in for the columns ``rows`` leave out."""
    names = list(rows[0])
    defaults = {column.name: column.default.arg for column in table.columns
                if column.name not in names and column.default is not None and column.default.is_scalar}
    columns = [table.c[name] for name in names] + [table.c[name] for name in defaults]
    values = [_processed([row[name] for row in rows], _bind_processor(table.c[name], dialect)) for name in names]
    values += [_processed([default] * len(rows), _bind_processor(table.c[name], dialect))
               for name, default in defaults.items()]
    return columns, list(zip(*values))


def _bind_processor(column: Column, dialect: Dialect) -> Callable | None:
    """The column type's bind processing on ``dialect``, as SQLAlchemy's own statements apply it
    (the dialect's variant of the type: SQLite's ``DateTime`` turns times into text)."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _processed(values: list, process: Callable | None) -> list:
    """``values`` through a column type's bind ``process``, called once per distinct value."""
    if process is None:
        return values
    try:
        once = {value: process(value) for value in dict.fromkeys(values)}
    except TypeError:  # an unhashable value (a JSON column's dict, say): one call each
        return [process(value) for value in values]
    return [once[value] for value in values]


def _insert_sql(dialect: Dialect, table: Table, columns: list[Column], rows: int) -> str:
    """``INSERT INTO table (columns) VALUES (?, ...)`` with ``rows`` rows of placeholders, in the
    sqlite3 module's qmark style; names quoted where SQLite needs it."""
    quote = dialect.identifier_preparer.quote
    one_row = f"({', '.join('?' * len(columns))})"
    return (f"INSERT INTO {quote(table.name)} ({', '.join(quote(column.name) for column in columns)}) "
            f"VALUES {', '.join([one_row] * rows)}")


def _copy(connection: Connection, table: Table, columns: list[Column], values: list[tuple]) -> None:
    command = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(column.name) for column in columns))
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(command) as copy:
        for row in values:
            copy.write_row(row)
