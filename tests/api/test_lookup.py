"""POST /api/v1/lookup (accord/api/lookup.py): the answer's shape, the gate, and 400s that name
the problem."""

from __future__ import annotations

from typing import Any

import pytest

from accord.services.lookup import MAX_VALUES
from accord.stix.markings import TLP2_AMBER, TLP2_GREEN
from tests.api import test_objects
from tests.api.test_objects import World
from tests.taxii.conftest import indicator

PATH = "/api/v1/lookup"
store, world = test_objects.store, test_objects.world  # the REST world of the object tests, and its store


def answer(world: World, who: str, values: Any) -> list[dict[str, Any]]:
    response = world.send(who, "POST", PATH, {"values": values})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def test_lookup_lists_visible_hits_with_owner_tlp_and_warninglists(world: World) -> None:
    green = indicator(1, object_marking_refs=[TLP2_GREEN], pattern="[domain-name:value = 'c2.example.com']")
    amber = indicator(2, object_marking_refs=[TLP2_AMBER], pattern="[domain-name:value = 'amber.example.com']")
    world.seed("A", world.shared, green, amber)
    sub, hidden, resolver = answer(world, "b-reader", ["x.c2.example.com", "amber.example.com", "8.8.8.8"])
    [hit] = sub["hits"]
    assert (hit["id"], hit["relation"], hit["matched"], hit["owner"], hit["tlp"], hit["state"]) == (
        green["id"], "parent", "c2.example.com", "A", "green", "published")
    # AMBER is above the a-b agreement's ceiling: B gets what a value nobody mentions gets.
    [nobody] = answer(world, "b-reader", ["nobody.example.com"])
    assert {**hidden, "value": "-"} == {**nobody, "value": "-"} and hidden["hits"] == []
    assert any("DNS resolvers" in name for name in resolver["warninglists"])
    assert {h["id"] for h in answer(world, "a-reader", ["amber.example.com"])[0]["hits"]} == {amber["id"]}
    assert answer(world, "c-reader", ["c2.example.com"])[0]["hits"] == []


@pytest.mark.parametrize(("body", "says"), [
    (b"", "the body is empty"),
    (b"[1]", "must be a JSON object"),
    (b'{"values": "8.8.8.8"}', "'values': must be a non-empty list"),
    (b'{"values": []}', "'values': must be a non-empty list"),
    (b'{"values": ["8.8.8.8", 7]}', "'values[1]': must be a string, not int"),
    (b'{"values": ["8.8.8.8"], "as": "x"}', "'as': not a lookup parameter"),
    (b"{nope", "the body is not JSON"),
])
def test_bad_bodies_are_400s_naming_the_problem(world: World, body: bytes, says: str) -> None:
    response = world.send("b-reader", "POST", PATH, body)
    assert response.status_code == 400
    assert says in response.json()["error"]["detail"]


def test_more_than_ten_thousand_values_is_refused(world: World) -> None:
    response = world.send("b-reader", "POST", PATH, {"values": ["x.example.com"] * (MAX_VALUES + 1)})
    assert response.status_code == 400
    assert f"at most {MAX_VALUES}" in response.json()["error"]["detail"]


def test_an_unrecognised_value_is_answered_with_its_problem(world: World) -> None:
    [result] = answer(world, "b-reader", ["hello"])
    assert result["problem"].startswith("not an IP address") and result["hits"] == []


def test_lookup_needs_credentials(world: World) -> None:
    assert world.client.post(PATH, content=b'{"values": ["8.8.8.8"]}').status_code == 401
