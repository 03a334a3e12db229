"""Inspecting and trimming the database broker's streams.

Trimming deletes only below the oldest entry some group still needs (its
oldest pending entry, else the first entry after its cursor).
"""

from __future__ import annotations

from typing import Any

from archipel.adapters.sql.broker_store import BrokerStore

__all__ = ["BrokerHousekeeping"]


class BrokerHousekeeping(BrokerStore):
    """Status and housekeeping of :class:`~archipel.adapters.sql.broker.DatabaseBroker`'s streams."""

    def trimmed(self, stream: str) -> bool:
        """Whether entries were ever trimmed from ``stream`` (a new group would miss them)."""

        def work(cur: Any) -> bool:
            row = cur.execute(self._sql["last_seq"], {"stream": stream}).fetchone()
            if row is None or not row[0]:
                return False
            count = cur.execute(self._sql["count"], {"stream": stream}).fetchone()[0]
            return int(row[0]) > int(count)

        return self._read_only(work, False)

    def pending(self, stream: str, group: str) -> int:
        return int(
            self._read_only(
                lambda cur: cur.execute(
                    self._sql["pending"], {"stream": stream, "grp": group}
                ).fetchone()[0],
                0,
            )
        )

    def lag(self, stream: str, group: str) -> int | None:
        def work(cur: Any) -> int:
            row = cur.execute(self._sql["group"], {"stream": stream, "grp": group}).fetchone()
            after = int(row[0]) if row is not None else 0
            return int(
                cur.execute(
                    self._sql["count_after"], {"stream": stream, "after": after}
                ).fetchone()[0]
            )

        return self._read_only(work, 0)

    def length(self, stream: str) -> int:
        """Entries currently stored in ``stream``."""
        return int(
            self._read_only(
                lambda cur: cur.execute(
                    self._sql["count_after"], {"stream": stream, "after": -1}
                ).fetchone()[0],
                0,
            )
        )

    def trim(self, stream: str, retain: int = 0) -> int:
        sql = self._sql

        def work(cursor: Any) -> int:
            groups = cursor.execute(sql["groups"], {"stream": stream}).fetchall()
            if not groups:
                return 0
            bounds = []
            for group, last_delivered in groups:
                row = cursor.execute(
                    sql["pending_min"], {"stream": stream, "grp": group}
                ).fetchone()
                bounds.append(
                    int(row[0]) if row and row[0] is not None else int(last_delivered) + 1
                )
            below = min(bounds)
            if retain > 0:
                top = cursor.execute(sql["max_seq"], {"stream": stream}).fetchone()[0]
                below = min(below, (int(top) if top is not None else 0) - retain + 1)
            cursor.execute(sql["trim"], {"stream": stream, "below": below})
            return max(0, int(cursor.rowcount))

        return self._transaction(work)

    def streams(self) -> list[str]:
        return sorted(
            {
                r[0]
                for r in self._read_only(lambda cur: cur.execute(self._sql["streams"]).fetchall(), list[Any]())
            }
        )

    def truncate(self) -> None:
        statements = self._sql["truncate"].split(";")
        self._transaction(lambda cur: [cur.execute(s) for s in statements])
        self._groups_known.clear()
