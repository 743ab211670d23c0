"""Many rows into one table at once: ``COPY`` on PostgreSQL, an executemany elsewhere.

A burst of alerts (a district's water cut) inserts thousands of alerts and as many audit events
in one tick. psycopg's executemany adapts every parameter in Python, one statement a row; ``COPY``
streams the rows in one command.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql
from sqlalchemy import Table, insert
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
    dialect = connection.dialect
    if dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    names = list(rows[0])
    defaults = {column.name: column.default.arg for column in table.columns
                if column.name not in names and column.default is not None and column.default.is_scalar}
    columns = [table.c[name] for name in names] + [table.c[name] for name in defaults]
    processors = [column.type.bind_processor(dialect) for column in columns]
    command = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(sql.Identifier(column.name) for column in columns))
    fixed = list(defaults.values())
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(command) as copy:
        for row in rows:
            values = [row[name] for name in names] + fixed
            copy.write_row([value if processor is None else processor(value)
                            for value, processor in zip(values, processors)])
