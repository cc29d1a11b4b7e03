"""Alerts: organisations' rules, the cursor over what was added, alerts and webhook deliveries.

A mixin of :class:`accord.storage.sql.SQLStore`. Storage keeps the facts; which versions a rule
may fire on is the policy gate's decision (``where`` in :meth:`added_between` is the rule's
organisation's predicate), and what fires is services/alerts.py's.

The cursor, the alerts of a window, their deliveries and the receipts of what they disclosed
commit in one transaction (:meth:`record_alerts`), and the cursor only moves from where the
evaluation started: two runners that evaluate one window never both record it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import orjson

from accord.errors import AlreadyExistsError, NotFoundError
from accord.storage.base import Alert, AlertRule, AuditEvent, Delivery, ListedVersion, NewAlert, NewAlertRule, RowFilter
from accord.storage.ordering import placeholders
from accord.storage.search import _ROW_COLUMNS, _listed
from accord.storage.sharing import append_audit

CURSOR = "alerts"
_RULE_COLUMNS = ("r.pk, r.org_pk, o.name, r.name, r.kind, r.partner_org, p.name, r.watch_values, r.sighting_types, "
                 "r.webhook_url, r.sealed_secret, r.since, r.created, r.created_by")
_RULES_FROM = ("alert_rules r JOIN organisations o ON o.pk = r.org_pk "
               "LEFT JOIN organisations p ON p.pk = r.partner_org")
_CHUNK = 500


def _json_list(text: str | None) -> tuple[str, ...]:
    return tuple(orjson.loads(text)) if text else ()


def _pks(text: str | None) -> tuple[int, ...]:
    return tuple(int(pk) for pk in orjson.loads(text)) if text else ()


class AlertQueries:
    _sql: Callable[[str], str]
    _read: Callable[[], AbstractContextManager[Any]]
    _write: Callable[..., AbstractContextManager[Any]]
    _clock: Callable[[], int]

    # -- rules -------------------------------------------------------------------------------
    def add_alert_rule(self, rule: NewAlertRule, *, actor: str) -> AlertRule:
        now = self._clock()
        try:
            with self._write() as conn:
                since = conn.execute("SELECT coalesce(max(date_added), 0) FROM collection_objects").fetchone()[0]
                conn.execute(self._sql(
                    "INSERT INTO alert_rules (org_pk, name, kind, partner_org, watch_values, sighting_types, "
                    "webhook_url, sealed_secret, since, created, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    (rule.org_pk, rule.name, rule.kind, rule.partner_org, orjson.dumps(list(rule.values)).decode(),
                     orjson.dumps(list(rule.sighting_types)).decode(), rule.webhook_url, rule.sealed_secret, since,
                     now, actor))
                pk, org = conn.execute(self._sql(
                    "SELECT r.pk, o.name FROM alert_rules r JOIN organisations o ON o.pk = r.org_pk "
                    "WHERE r.org_pk = ? AND r.name = ?"), (rule.org_pk, rule.name)).fetchone()
                # The watchlist's values and the webhook's address are the organisation's business,
                # not the log's: how many, and whether there is a webhook.
                append_audit(conn, self._sql, now, AuditEvent(
                    actor, "alert.rule.add", org=org, subject=rule.name,
                    detail={"rule": pk, "kind": rule.kind, "values": len(rule.values),
                            "webhook": rule.webhook_url is not None}))
        except AlreadyExistsError as exc:
            raise AlreadyExistsError(f"cannot add alert rule {rule.name!r}: the organisation has one of that name") \
                from exc
        return self.get_alert_rule(pk)

    def _rules(self, where: str, params: Sequence[Any], deliveries: bool = True) -> list[AlertRule]:
        with self._read() as conn:
            rows = conn.execute(self._sql(f"SELECT {_RULE_COLUMNS} FROM {_RULES_FROM} {where} ORDER BY o.name, r.name"),
                                params).fetchall()
            pks = [r[0] for r in rows]
            counts: dict[int, dict[str, int]] = {pk: {} for pk in pks}
            errors: dict[int, str] = {}
            for part in range(0, len(pks) if deliveries else 0, _CHUNK):
                chunk = pks[part:part + _CHUNK]
                marks = placeholders(len(chunk))
                for rule_pk, state, n in conn.execute(self._sql(
                        "SELECT a.rule_pk, d.state, count(*) FROM alert_deliveries d "
                        f"JOIN alerts a ON a.pk = d.alert_pk WHERE a.rule_pk IN ({marks}) "
                        "GROUP BY a.rule_pk, d.state"), chunk):
                    counts[rule_pk][state] = n
                for rule_pk, error in conn.execute(self._sql(
                        "SELECT a.rule_pk, d.last_error FROM alert_deliveries d JOIN alerts a ON a.pk = d.alert_pk "
                        f"WHERE a.rule_pk IN ({marks}) AND d.last_error IS NOT NULL ORDER BY d.last_attempt"), chunk):
                    errors[rule_pk] = error  # the newest wins
        return [AlertRule(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _json_list(r[7]), _json_list(r[8]), r[9],
                          None if r[10] is None else bytes(r[10]), r[11], r[12], r[13], counts[r[0]], errors.get(r[0]))
                for r in rows]

    def alert_rules(self, org_pk: int | None = None, *, deliveries: bool = True) -> list[AlertRule]:
        if org_pk is None:
            return self._rules("", (), deliveries)
        return self._rules("WHERE r.org_pk = ?", (org_pk,), deliveries)

    def get_alert_rule(self, pk: int) -> AlertRule:
        found = self._rules("WHERE r.pk = ?", (pk,))
        if not found:
            raise NotFoundError(f"no alert rule {pk}")
        return found[0]

    def remove_alert_rule(self, pk: int, *, actor: str) -> AlertRule:
        rule = self.get_alert_rule(pk)
        with self._write() as conn:
            conn.execute(self._sql("DELETE FROM alert_deliveries WHERE alert_pk IN "
                                   "(SELECT pk FROM alerts WHERE rule_pk = ?)"), (pk,))
            conn.execute(self._sql("DELETE FROM alerts WHERE rule_pk = ?"), (pk,))
            conn.execute(self._sql("DELETE FROM alert_rules WHERE pk = ?"), (pk,))
            append_audit(conn, self._sql, self._clock(), AuditEvent(
                actor, "alert.rule.remove", org=rule.org_name, subject=rule.name, detail={"rule": pk}))
        return rule

    # -- evaluation --------------------------------------------------------------------------
    def alert_position(self) -> int:
        with self._read() as conn:
            row = conn.execute(self._sql("SELECT position FROM alert_cursor WHERE name = ?"), (CURSOR,)).fetchone()
        return 0 if row is None else int(row[0])

    def membership_window(self, after: int, rows: int) -> int | None:
        with self._read() as conn:
            row = conn.execute(self._sql(
                "SELECT max(d) FROM (SELECT date_added AS d FROM collection_objects WHERE date_added > ? "
                "ORDER BY date_added LIMIT ?) w"), (after, rows)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def added_between(self, after: int, upto: int, where: RowFilter) -> list[ListedVersion]:
        # Drafts never fire: a draft is its owner's work in progress, and publishing it gives it a
        # new date_added, which the cursor meets later.
        sql = (f"SELECT {_ROW_COLUMNS} FROM collection_objects m CROSS JOIN object_versions v "
               "WHERE m.date_added > ? AND m.date_added <= ? AND v.pk = m.version_pk AND v.state = 'published' "
               f"AND ({where.sql}) ORDER BY m.date_added")
        with self._read() as conn:
            rows = conn.execute(self._sql(sql), [after, upto, *where.params]).fetchall()
        seen: set[int] = set()
        out = []
        for r in rows:
            row = _listed(r)
            if row.pk not in seen:
                seen.add(row.pk)
                out.append(row)
        return out

    def owned_observables(self, keys: Sequence[tuple[str, str]], org_pk: int, *, per_key: int,
                          ) -> dict[tuple[str, str], list[str]]:
        """For each of ``keys`` that the organisation's own versions (not retracted) carry, the ids
        of up to ``per_key`` of those objects, newest version first: correlation on ingest. The
        index answers the keys (one ``type = ? AND value IN (...)`` arm per type, as lookup's
        keyed read), then only the candidate versions' owners and states are read; no bodies."""
        by_type: dict[str, list[str]] = {}
        for index_type, value in dict.fromkeys(keys):
            by_type.setdefault(index_type, []).append(value)
        found: dict[tuple[str, str], list[str]] = {}
        with self._read() as conn:
            for index_type, values in by_type.items():
                for part in range(0, len(values), _CHUNK):
                    chunk = values[part:part + _CHUNK]
                    rows = conn.execute(self._sql(
                        "SELECT x.value, v.stix_id FROM observables x CROSS JOIN object_versions v "
                        f"WHERE x.type = ? AND x.value IN ({placeholders(len(chunk))}) AND v.pk = x.version_pk "
                        "AND v.owner_org = ? AND v.state <> 'retracted' ORDER BY x.value, v.pk DESC"),
                        [index_type, *chunk, org_pk]).fetchall()
                    for value, stix_id in rows:
                        ids = found.setdefault((index_type, value), [])
                        if stix_id not in ids and len(ids) < per_key:
                            ids.append(stix_id)
        return found

    def alerted(self, rule_pks: Sequence[int], version_pks: Sequence[int]) -> set[tuple[int, int]]:
        if not rule_pks or not version_pks:
            return set()
        found: set[tuple[int, int]] = set()
        rules = list(dict.fromkeys(rule_pks))
        versions = list(dict.fromkeys(version_pks))
        with self._read() as conn:
            for part in range(0, len(versions), _CHUNK):
                chunk = versions[part:part + _CHUNK]
                for rule_pk, version_pk in conn.execute(self._sql(
                        f"SELECT rule_pk, version_pk FROM alerts WHERE rule_pk IN ({placeholders(len(rules))}) "
                        f"AND version_pk IN ({placeholders(len(chunk))})"), [*rules, *chunk]):
                    found.add((rule_pk, version_pk))
        return found

    def record_alerts(self, after: int, upto: int, alerts: Sequence[NewAlert],
                      receipts: Sequence[AuditEvent]) -> bool:
        now = self._clock()
        with self._write() as conn:
            row = conn.execute(self._sql("SELECT position FROM alert_cursor WHERE name = ?"), (CURSOR,)).fetchone()
            if row is None:
                conn.execute(self._sql("INSERT INTO alert_cursor (name, position) VALUES (?, ?)"), (CURSOR, after))
            elif int(row[0]) != after:
                return False
            conn.execute(self._sql("UPDATE alert_cursor SET position = ? WHERE name = ?"), (upto, CURSOR))
            next_pk = conn.execute("SELECT coalesce(max(pk), 0) + 1 FROM alerts").fetchone()[0]
            for alert in alerts:
                cur = conn.execute(self._sql(
                    "INSERT INTO alerts (pk, uid, rule_pk, org_pk, version_pk, stix_id, related, date_added, matched, "
                    "created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rule_pk, version_pk) DO NOTHING"),
                    (next_pk, alert.uid, alert.rule_pk, alert.org_pk, alert.version_pk, alert.stix_id,
                     orjson.dumps(list(alert.related)).decode(), alert.date_added, alert.matched.decode(), now))
                if cur.rowcount != 1:
                    continue  # this rule already fired on this version
                if alert.payload is not None:
                    conn.execute(self._sql(
                        "INSERT INTO alert_deliveries (alert_pk, payload, state, attempts, next_attempt) "
                        "VALUES (?, ?, 'pending', 0, ?)"), (next_pk, alert.payload, now))
                next_pk += 1
            for event in receipts:
                append_audit(conn, self._sql, now, event)
        return True

    # -- listing and delivery ----------------------------------------------------------------
    def alerts(self, org_pk: int | None, *, limit: int, before: int | None = None,
               acknowledged: bool | None = None) -> list[Alert]:
        where, params = [], []
        if org_pk is not None:
            where.append("a.org_pk = ?")
            params.append(org_pk)
        if before is not None:
            where.append("a.pk < ?")
            params.append(before)
        if acknowledged is not None:
            where.append("a.acknowledged IS " + ("NOT NULL" if acknowledged else "NULL"))
        return self._alerts(" WHERE " + " AND ".join(where) if where else "", params, limit)

    def _alerts(self, where: str, params: Sequence[Any], limit: int) -> list[Alert]:
        sql = ("SELECT a.pk, a.uid, a.rule_pk, r.name, r.kind, a.org_pk, a.version_pk, a.stix_id, a.related, "
               "a.date_added, a.matched, a.created, d.state, d.attempts, d.last_error, a.acknowledged, "
               "a.acknowledged_by FROM alerts a JOIN alert_rules r ON r.pk = a.rule_pk "
               f"LEFT JOIN alert_deliveries d ON d.alert_pk = a.pk{where} ORDER BY a.pk DESC LIMIT ?")
        with self._read() as conn:
            rows = conn.execute(self._sql(sql), [*params, limit]).fetchall()
        return [Alert(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], _pks(r[8]), r[9], r[10].encode(), r[11],
                      r[12], r[13] or 0, r[14], r[15], r[16]) for r in rows]

    def get_alert(self, uid: str) -> Alert:
        found = self._alerts(" WHERE a.uid = ?", (uid,), 1)
        if not found:
            raise NotFoundError(f"no alert {uid!r}")
        return found[0]

    def acknowledge_alert(self, pk: int, *, actor: str) -> Alert:
        now = self._clock()
        with self._write() as conn:
            row = conn.execute(self._sql(
                "SELECT a.uid, a.stix_id, o.name, r.name FROM alerts a JOIN organisations o ON o.pk = a.org_pk "
                "JOIN alert_rules r ON r.pk = a.rule_pk WHERE a.pk = ?"), (pk,)).fetchone()
            if row is None:
                raise NotFoundError(f"no alert {pk}")
            cur = conn.execute(self._sql(
                "UPDATE alerts SET acknowledged = ?, acknowledged_by = ? WHERE pk = ? AND acknowledged IS NULL"),
                (now, actor, pk))
            if cur.rowcount == 1:
                uid, stix_id, org, rule = row
                append_audit(conn, self._sql, now, AuditEvent(
                    actor, "alert.ack", org=org, subject=uid, detail={"rule": rule, "object": stix_id}))
        return self.get_alert(row[0])

    def claim_deliveries(self, now: int, *, lease: int, limit: int) -> list[Delivery]:
        with self._write() as conn:
            rows = conn.execute(self._sql(
                "SELECT d.alert_pk, a.uid, a.rule_pk, a.org_pk, a.version_pk, a.related, r.webhook_url, "
                "r.sealed_secret, d.payload, d.attempts FROM alert_deliveries d JOIN alerts a ON a.pk = d.alert_pk "
                "JOIN alert_rules r ON r.pk = a.rule_pk WHERE d.state = 'pending' AND d.next_attempt <= ? "
                "ORDER BY d.next_attempt, d.alert_pk LIMIT ?"), (now, limit)).fetchall()
            if rows:
                cur = conn.cursor()
                cur.executemany(self._sql("UPDATE alert_deliveries SET next_attempt = ? WHERE alert_pk = ?"),
                                [(now + lease, r[0]) for r in rows])
                cur.close()
        return [Delivery(r[0], r[1], r[2], r[3], (r[4], *_pks(r[5])), r[6], bytes(r[7]), bytes(r[8]), r[9])
                for r in rows if r[6] is not None and r[7] is not None]

    def finish_delivery(self, alert_pk: int, *, state: str, attempts: int, next_attempt: int,
                        status: int | None, error: str | None) -> None:
        now = self._clock()
        with self._write() as conn:
            conn.execute(self._sql(
                "UPDATE alert_deliveries SET state = ?, attempts = ?, next_attempt = ?, last_attempt = ?, "
                "last_status = ?, last_error = ?, delivered = ? WHERE alert_pk = ?"),
                (state, attempts, next_attempt, now, status, None if error is None else error[:2000],
                 now if state == "delivered" else None, alert_pk))
