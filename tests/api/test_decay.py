"""Decay over REST, in process on both backends: ``score`` in GET /api/v1/objects/{id} (the
caller's score: another organisation's sighting below the threshold moves it for nobody but its
owner) and ``min_score`` on the collection export, with its 400s."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from accord.services.decay import DAY
from accord.services.sightings import KIND_PROPERTY, SEEN
from accord.stix.markings import TLP2_GREEN
from accord.stix.timestamps import format_micros
from tests.api.test_objects import World, store, world  # noqa: F401  (the in-process app, per backend)
from tests.conftest import StepClock
from tests.taxii.conftest import indicator

START = StepClock().now  # the app's clock in these tests starts here and moves 1 ms a reading


def _aged(days: int) -> dict[str, Any]:
    t = format_micros(START - days * DAY)
    return indicator(1, created=t, modified=t, valid_from=t, confidence=80, object_marking_refs=[TLP2_GREEN])


def _sighting(of: str) -> dict[str, Any]:
    t = format_micros(START)
    return {"type": "sighting", "spec_version": "2.1", "id": f"sighting--{uuid.uuid4()}", "created": t,
            "modified": t, "sighting_of_ref": of, "count": 1, "first_seen": t, "last_seen": t, KIND_PROPERTY: SEEN,
            "object_marking_refs": [TLP2_GREEN]}


def _exported(world: World, who: str, **params: Any) -> list[str]:  # noqa: F811
    answer = world.get(who, "/api/v1/collections/shared/export", **params)
    assert answer.status_code == 200, answer.text
    return [o["id"] for o in answer.json()["objects"] if o["type"] == "indicator"]


def _threshold(world: World, min_count: int) -> None:  # noqa: F811
    """The sighting_min_count setting of the running app (its default, 1, shows every sighting)."""
    app = world.client.app
    app.state.api = dataclasses.replace(app.state.api, sighting_min_count=min_count)  # type: ignore[attr-defined]


def test_object_detail_gives_each_caller_its_own_score(world: World) -> None:  # noqa: F811
    _threshold(world, 3)
    ind = _aged(10)  # 10 of its 30 days: 80 x 2/3
    malware = {"type": "malware", "spec_version": "2.1", "id": f"malware--{uuid.uuid4()}", "is_family": False,
               "created": ind["created"], "modified": ind["created"], "name": "m", "object_marking_refs": [TLP2_GREEN]}
    world.seed("A", world.shared, ind, malware)
    assert world.get("b-reader", f"/api/v1/objects/{ind['id']}").json()["score"] == 53
    assert world.get("b-reader", f"/api/v1/objects/{malware['id']}").json()["score"] is None
    world.seed("A", world.shared, _sighting(str(ind["id"])))  # A saw it just now
    assert world.get("a-reader", f"/api/v1/objects/{ind['id']}").json()["score"] == 80  # its own: counts
    # For B it is one sighting of another organisation, below sighting_min_count (3): as if absent.
    b = world.get("b-reader", f"/api/v1/objects/{ind['id']}")
    assert b.json()["score"] == 53


def test_export_min_score_is_judged_for_the_caller(world: World) -> None:  # noqa: F811
    _threshold(world, 3)
    ind = _aged(10)
    world.seed("A", world.shared, ind, _sighting(str(ind["id"])))
    assert _exported(world, "b-reader") == [ind["id"]]
    assert _exported(world, "b-reader", min_score="53") == [ind["id"]]
    assert _exported(world, "b-reader", min_score="60") == []
    assert _exported(world, "a-reader", min_score="60") == [ind["id"]]
    csv = world.get("a-reader", "/api/v1/collections/shared/export", min_score="100", format="csv")
    assert csv.status_code == 200 and csv.text.count("\n") == 1  # the header only


def test_a_bad_min_score_is_a_400_naming_it(world: World) -> None:  # noqa: F811
    for value in ("101", "-1", "1.5", "high", "", "\u0663"):  # the last: an Arabic-Indic digit three
        answer = world.get("a-reader", "/api/v1/collections/shared/export", min_score=value)
        assert answer.status_code == 400, value
        assert answer.json()["error"]["detail"].startswith("'min_score'")
