"""``accord sighting add`` and ``accord sighting list`` (accord/cli/sighting_cmds.py) on every
backend: a report as the operator and as a user, the lookup and the list that show it, and bad
input named with a non-zero exit."""

from __future__ import annotations

import orjson

from tests.cli.conftest import Run

INDICATOR = "indicator--00000000-0000-4000-8000-0000000000a1"


def seed(accord: Run) -> None:
    bundle = {"type": "bundle", "id": "bundle--00000000-0000-4000-8000-0000000000a0", "objects": [{
        "type": "indicator", "spec_version": "2.1", "id": INDICATOR, "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z", "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z",
        "pattern": "[domain-name:value = 'c2.example.net']"}]}
    assert accord("import", "-", input=orjson.dumps(bundle)).exit_code == 0


def test_report_then_list_and_look_up(accord: Run) -> None:
    seed(accord)
    done = accord("sighting", "add", INDICATOR, "--kind", "false-positive", "--count", "2", "--tlp", "green",
                  "--first-seen", "2026-12-01T08:00:00Z", "--note", "the CDN")
    assert done.exit_code == 0, done.output
    sighting_id, _, state, owner = done.stdout.strip().split("\t")
    assert sighting_id.startswith("sighting--") and state == "published" and owner == "owned by node"
    listed = accord("sighting", "list", INDICATOR)
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines()[0].split("\t")[:3] == ["false-positive", "2", "node"]
    assert listed.stdout.splitlines()[-1] == "seen 0, false-positive 2, expired 0"
    found = orjson.loads(accord("lookup", "c2.example.net", "--json", "--no-warninglists").stdout)
    (hit,) = found["results"][0]["hits"]
    assert hit["sightings"]["false_positive"] == 2 and hit["sightings"]["sightings"][0]["id"] == sighting_id


def test_an_analyst_drafts_and_a_reader_is_refused(accord: Run) -> None:
    seed(accord)
    assert accord("org", "add", "alpha").exit_code == 0
    assert accord("agreement", "add", "na", "--party", "node", "--party", "alpha", "--max-tlp", "amber").exit_code == 0
    assert accord("collection", "grant", "default", "alpha", "--read", "--write").exit_code == 0
    assert accord("user", "add", "ann", "--org", "alpha", "--role", "analyst").exit_code == 0
    assert accord("user", "add", "rob", "--org", "alpha", "--role", "reader").exit_code == 0
    drafted = accord("sighting", "add", INDICATOR, "--as", "ann")
    assert drafted.exit_code == 0 and drafted.stdout.strip().endswith("draft\towned by alpha"), drafted.output
    refused = accord("sighting", "add", INDICATOR, "--as", "rob")
    assert refused.exit_code == 1 and "analyst role" in refused.stderr
    # The node's own reader is not told of alpha's draft; alpha's reader is (its organisation's own).
    assert accord("user", "add", "nina", "--org", "node", "--role", "reader").exit_code == 0
    assert accord("sighting", "list", INDICATOR, "--as", "nina").stdout.strip() == "seen 0, false-positive 0, expired 0"
    assert accord("sighting", "list", INDICATOR, "--as", "rob").stdout.splitlines()[0].startswith("seen\t1\talpha")


def test_bad_input_is_named(accord: Run) -> None:
    seed(accord)
    for args, message in ((["--count", "many"], "count"), (["--first-seen", "soon"], "first_seen"),
                          (["--tlp", "purple"], "tlp")):
        result = accord("sighting", "add", INDICATOR, *args)
        assert result.exit_code == 1 and message in result.stderr, result.output
    missing = accord("sighting", "add", "indicator--00000000-0000-4000-8000-0000000000ff")
    assert missing.exit_code == 1 and "no object" in missing.stderr
    assert accord("sighting", "add", INDICATOR, "--kind", "maybe").exit_code == 2  # click's own usage error
