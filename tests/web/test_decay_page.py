"""The decay score on the object page (accord/web/browse.py, templates/object.html), in process:
one line for an indicator, the reader's own score (another organisation's sighting below the
threshold does not show through), nothing for other objects."""

from __future__ import annotations

import dataclasses
import io
import uuid
from typing import Any

import orjson

from accord.policy.passwords import set_password
from accord.services.decay import DAY
from accord.services.ingest import ingest_document
from accord.services.sightings import KIND_PROPERTY, SEEN
from accord.stix.markings import TLP2_GREEN
from accord.stix.stream import StixDocument
from accord.stix.timestamps import format_micros
from accord.storage.base import Provenance, Store
from tests.web.conftest import password_for
from tests.web.test_admin_pages import App, app  # noqa: F401  (the in-process app and its sessions)


def _put(store: Store, owner: str, *objects: dict[str, Any]) -> None:
    with store.transaction() as tx:
        report = ingest_document(tx, store.get_collection("shared"),
                                 StixDocument(io.BytesIO(orjson.dumps(list(objects))).read),
                                 Provenance(store.get_org(owner).pk, owner_name=owner))
    assert not report.refused


def test_the_object_page_shows_the_readers_own_score(app: App) -> None:  # noqa: F811
    # sighting_min_count 3 (the default, 1, would show cert-b's one sighting to cert-a)
    app.client.app.state.web = dataclasses.replace(app.ctx, sighting_min_count=3)  # type: ignore[attr-defined]
    app.store.add_user("anna", org="cert-a", role="reader")
    set_password(app.store, "anna", password_for("anna"))
    start = app.clock.now
    t = format_micros(start - 10 * DAY)
    ind = {"type": "indicator", "spec_version": "2.1", "id": f"indicator--{uuid.uuid4()}", "created": t,
           "modified": t, "valid_from": t, "pattern": "[domain-name:value = 'c2.example.com']",
           "pattern_type": "stix", "confidence": 90, "object_marking_refs": [TLP2_GREEN]}
    _put(app.store, "cert-b", ind)  # cert-b's GREEN indicator, shared with cert-a under a-b
    now = format_micros(start)
    sighting_id = f"sighting--{uuid.uuid4()}"
    _put(app.store, "cert-b", {"type": "sighting", "spec_version": "2.1", "id": sighting_id,
                               "created": now, "modified": now, "sighting_of_ref": ind["id"], "count": 1,
                               "first_seen": now, "last_seen": now, KIND_PROPERTY: SEEN,
                               "object_marking_refs": [TLP2_GREEN]})
    page = app.session("anna").get(f"/objects/{ind['id']}")
    assert page.status_code == 200
    # 10 of 90 days: 90 x 8/9 = 80. cert-b's one sighting is below the threshold for cert-a: no reset.
    assert ('id="decay-score">Decay score <strong>80</strong>/100 <span class="muted">(confidence 90, 10 of 90 '
            'days (domain-name lifetime); only sightings you may be told of count)') in page.text
    assert "<strong>90</strong>/100" in app.session("bob").get(f"/objects/{ind['id']}").text  # cert-b's own
    other = app.session("bob").get(f"/objects/{sighting_id}")
    assert other.status_code == 200 and "decay-score" not in other.text
