"""Information flow through decay scores (services/decay.py): in random worlds with sightings of
their indicators (tests/policy/world.py, :func:`sighted_worlds`), the score each reader is given
for an indicator is the formula's (oracle.decay_score) over exactly the sightings the oracle
(tests/policy/oracle.py) says that reader is told of: each sighting's newest version the reader
may see, the reader's own organisation's always, other organisations' only once at least
``sighting_min_count`` of them are visible (the node operator: every sighting).

Checked per user, at one instant T (the in-process app's clock is T): at thresholds 1 to 3, the
score of every visible indicator in a lookup hit and in the object page's view, and the score the
export filter gives each visible indicator version (``decay.scores``, on the version's own body);
at the world's threshold, the score in the REST object detail and on the web object page, the REST
collection export with ``min_score`` at each score the reader has and one above (an indicator
scoring exactly N stays), and the CLI ``export --min-score`` (``--as``, ``--for-org`` and the
operator): exactly the versions the oracle lets the exporting reader see, less the indicator
versions whose oracle score is below N. Then, per organisation, sightings it may not see are
added (other organisations' drafts, RED without it as a recipient, markings no agreement of its
covers, hidden newer versions of existing sightings): its users' scores must not move, so a score
is no channel for what the gate withholds. A smaller sample of worlds runs on PostgreSQL.
"""

from __future__ import annotations

import re
import tempfile
import uuid
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from starlette.exceptions import StarletteDeprecationWarning

from accord.app import build_app
from accord.cli.main import cli
from accord.policy.gate import visibility
from accord.policy.sessions import COOKIE, _digest, new_secret_value
from accord.policy.tokens import new_token
from accord.policy.viewer import Viewer
from accord.services.decay import DecayModel, Scoring, explain, scores
from accord.services.disclose import disclosed_bodies
from accord.services.lookup import lookup
from accord.services.objects import object_view
from accord.settings import load_settings
from accord.storage.base import Store, VersionQuery
from accord.storage.sql import micros_now
from tests.policy.oracle import DAY, Version, World, decay_score
from tests.policy.tally import CASES, WORLDS
from tests.policy.test_information_flow import check_bodies, flow_settings, key_of
from tests.policy.world import (
    SEEN_DAYS,
    SIGHTING_KINDS,
    TIME_SKEW,
    Built,
    ingest_versions,
    marking_sets,
    modified,
    postgres_copy,
    sighted_worlds,
    sqlite_copy,
    stored_world,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

RUNNER = CliRunner()
SCORE_ON_PAGE = re.compile(r'id="decay-score">Decay score <strong>(\d+)</strong>/100')

# A sighting to add where one organisation may not see it: (target, owner, collection, markings,
# state, recipients, kind, count, days, a newer version of an existing sighting rather than a new one).
Hidden = tuple[int, int, int, tuple[str, ...], str, frozenset[int], str, int, int | None, bool]
hidden_sightings = st.lists(st.tuples(
    st.integers(0, 99), st.integers(0, 99), st.integers(0, 99), marking_sets, st.sampled_from(("published", "draft")),
    st.frozensets(st.integers(0, 99), max_size=2), st.sampled_from(SIGHTING_KINDS), st.integers(1, 3),
    st.sampled_from(SEEN_DAYS), st.booleans()), min_size=1, max_size=5)


def oracle_scores(world: World, reader: str | None, t: int, min_count: int) -> dict[tuple[str, str], int]:
    """The score at ``t`` of every indicator version of the world, on its own body, from the
    sightings ``reader`` (None: the operator) is told of."""
    told: dict[str, list[Version]] = {}
    scores = {}
    for v in world.versions:
        if v.type == "indicator":
            if v.stix_id not in told:
                told[v.stix_id] = world.sightings_told(reader, v.stix_id, t, min_count)[0]
            scores[v.key] = decay_score(v, told[v.stix_id], t)
    return scores


def served_scores(world: World, org: str, t: int, min_count: int) -> dict[str, int]:
    """The score ``org``'s users are given for each indicator they see: that of the newest
    version they may see (the body a lookup hit and the object page show)."""
    scores = oracle_scores(world, org, t, min_count)
    newest: dict[str, tuple[str, str]] = {}
    for key in sorted(k for k in world.visible(org, t) if k in scores):
        newest[key[0]] = key  # in (id, modified) order: each id's newest comes last
    return {stix_id: scores[key] for stix_id, key in newest.items()}


def kept(world: World, visible: set[tuple[str, str]], scores: dict[tuple[str, str], int], min_score: int
         ) -> set[tuple[str, str]]:
    """What an export filtered by ``min_score`` keeps of ``visible``: every version but those of
    indicators scoring below it (each version is scored on its own body)."""
    return {k for k in visible if k not in scores or scores[k] >= min_score}


@dataclass
class Reader:
    """One user of the world with an API token and a web session in the in-process app."""

    username: str
    org: str
    headers: dict[str, str]
    cookie: dict[str, str]


def readers(store: Store, world: World, t: int) -> list[Reader]:
    out = []
    for username, (org, _) in world.users.items():
        token, digest = new_token()
        store.add_token(username, digest)
        cookie = new_secret_value()
        store.add_session(_digest(cookie), store.get_user(username).pk, expires=t + DAY)
        out.append(Reader(username, org, {"Authorization": f"Bearer {token}"}, {"Cookie": f"{COOKIE}={cookie}"}))
    return out


@dataclass(frozen=True)
class Given:
    """The scores one user is given at one threshold through the service layer."""

    lookup: dict[str, int | None]  # lookup hits, by indicator id
    page: dict[str, int | None]  # the object page's view (web/browse.py, api/objects.py), by id
    export: dict[tuple[str, str], int | None]  # what the export filter judges, by version


def service_scores(store: Store, username: str, t: int, min_count: int) -> Given:
    """The scores ``username`` is given at ``t``: in lookup hits, from the object page's view (its
    current body as received and the sightings it shows) and by the export filter's batch
    (``decay.scores`` over every indicator version as the user receives it)."""
    vis = visibility(store, Viewer.of(store.get_user(username)), t)
    [result] = lookup(store, vis, ["10.0.0.1"], scoring=Scoring(DecayModel(), min_count, t))
    hits = {h.stix_id: h.score for h in result.hits if h.type == "indicator"}
    pages: dict[str, int | None] = {}
    for stix_id in hits:
        view = object_view(store, vis, stix_id, sighting_min_count=min_count)
        found = explain(view.current.obj, view.sightings.shown if view.sightings else (), t, DecayModel())
        pages[stix_id] = None if found is None else found.value
    bodies = [orjson.loads(b) for b in disclosed_bodies(store, vis, VersionQuery(types=("indicator",)), channel="test")]
    batch = scores(store, vis, bodies, now=t, model=DecayModel(), min_count=min_count, channel="test")
    return Given(hits, pages, {key_of(b): s for b, s in zip(bodies, batch, strict=True)})


def check_service_scores(store: Store, world: World, username: str, t: int) -> None:
    """At every threshold (1 to 3): the service layer's scores are the oracle's."""
    org = world.users[username][0]
    for min_count in (1, 2, 3):
        want = served_scores(world, org, t, min_count)
        by_version = {k: s for k, s in oracle_scores(world, org, t, min_count).items() if k in world.visible(org, t)}
        given = service_scores(store, username, t, min_count)
        where = f"scores for {username} ({org}), min_count {min_count}"
        assert given.lookup == want, f"{where} (lookup hits)"
        assert given.page == want, f"{where} (object view)"
        assert given.export == by_version, f"{where} (the export filter's scores)"
        CASES["decay score (lookup, object view, export filter)"] += 1


def check_served_scores(client: TestClient, store: Store, built: Built, reader: Reader, t: int, min_count: int
                        ) -> None:
    """At the app's threshold: the REST object detail and the web page, and the REST export with
    ``min_score`` at each score the reader has and one above."""
    world, org = built.world, reader.org
    want = served_scores(world, org, t, min_count)
    where = f"scores for {reader.username} ({org}), min_count {min_count}"
    for stix_id, score in want.items():
        answer = client.get(f"/api/v1/objects/{stix_id}", headers=reader.headers)
        assert answer.status_code == 200, (where, answer.text[:300])
        assert answer.json()["score"] == score, f"{where} (REST object {stix_id})"
        page = client.get(f"/objects/{stix_id}", headers=reader.cookie)
        found = SCORE_ON_PAGE.search(page.text)
        assert page.status_code == 200 and found is not None, (where, page.text[:300])
        assert int(found.group(1)) == score, f"{where} (web object page {stix_id})"
    CASES["decay score (REST object, web page)"] += 1
    oracle = {k: s for k, s in oracle_scores(world, org, t, min_count).items() if k in world.visible(org, t)}
    cuts = sorted({0, *oracle.values(), *(s + 1 for s in oracle.values())})
    for name in built.collections:
        if not world.reaches(reader.username, name):
            continue
        visible = world.visible(org, t, name)
        for min_score in cuts:
            answer = client.get(f"/api/v1/collections/{name}/export", headers=reader.headers,
                                params={"min_score": str(min_score)})
            assert answer.status_code == 200, (where, answer.text[:300])
            check_bodies(world, org, answer.json()["objects"], kept(world, visible, oracle, min_score), t,
                         f"{where}: REST export of {name}, min_score {min_score}")
        CASES["decay, REST export min_score"] += 1


def cli_export(url: str, min_count: int, *args: str) -> list[dict[str, Any]]:
    result = RUNNER.invoke(cli, ["--db", url, "export", *args], env={"ACCORD_SIGHTING_MIN_COUNT": str(min_count)},
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    objects: list[dict[str, Any]] = orjson.loads(result.stdout_bytes)["objects"]
    return objects


def median_cut(scores: list[int]) -> int:
    """A min_score that splits ``scores`` (the middle one; 1 when that is 0, to leave zeros out)."""
    return max(1, sorted(scores)[len(scores) // 2]) if scores else 1


def cli_expected(world: World, org: str | None, instant: int, min_count: int, cut: int) -> set[tuple[str, str]]:
    visible = {v.key for v in world.versions} if org is None else world.visible(org, instant)
    return kept(world, visible, oracle_scores(world, org, instant, min_count), cut)


def check_cli_exports(url: str, world: World, min_count: int) -> None:
    """``accord export --min-score N`` as each user, for each organisation and as the operator
    (which is told of every sighting). The CLI scores at its own clock: a case whose answer the
    oracle gives differently at the instants before and after the export is not judged."""
    exporters: list[tuple[str | None, list[str]]] = [(None, [])]
    exporters += [(org, ["--as", username]) for username, (org, _) in world.users.items()]
    exporters += [(org, ["--for-org", org]) for org in world.kinds]
    for org, args in exporters:
        before = micros_now()
        oracle = oracle_scores(world, org, before, min_count)
        cut = median_cut([s for k, s in oracle.items() if org is None or k in world.visible(org, before)])
        objects = cli_export(url, min_count, *args, "--min-score", str(cut))
        expected = cli_expected(world, org, before, min_count, cut)
        if expected != cli_expected(world, org, micros_now(), min_count, cut):
            continue
        check_bodies(world, org, objects, expected, before, f"export {' '.join(args)} --min-score {cut}")
        CASES["decay, CLI export --min-score " + (args[0] if args else "(operator)")] += 1


def add_hidden(store: Store, built: Built, org: str, hidden: list[Hidden], t: int, round_no: int) -> list[Version]:
    """Store the sightings of ``hidden`` that ``org`` may not see at ``t`` (and add them to the world)."""
    world = built.world
    orgs, colls = sorted(world.kinds), sorted(world.default_tlp)
    indicators = sorted({v.stix_id for v in world.versions if v.type == "indicator"})
    sightings = sorted({v.stix_id: v for v in world.versions if v.type == "sighting"}.items())
    added = []
    for j, (target, owner, coll, marks, state, recipients, kind, count, days, renew) in enumerate(hidden):
        v = Version(f"sighting--{uuid.uuid4()}", modified(0), "sighting", colls[coll % len(colls)],
                    orgs[owner % len(orgs)], marking_refs=marks, state=state,
                    recipients=frozenset(orgs[r % len(orgs)] for r in recipients),
                    target=indicators[target % len(indicators)], sighting=(kind, count),
                    seen_at=None if days is None else t + days * DAY - TIME_SKEW)
        if renew and sightings:  # a newer version of a sighting, by its owner
            _, old = sightings[target % len(sightings)]
            v = replace(v, stix_id=old.stix_id, modified=modified(10 + 5 * round_no + j), collection=old.collection,
                        owner=old.owner, target=old.target, named_by=old.named_by)
        if not world.sees(org, v, t):
            added.append(v)
    ingest_versions(store, built, added)
    world.versions.extend(added)
    return added


def check_world(url: str, workdir: Path, spec: tuple[World, frozenset[str], int], hidden: list[Hidden], *,
                label: str) -> None:
    world_spec, resumed, min_count = spec
    with stored_world(url, world_spec, resumed, "d") as (store, built, t):
        world = built.world
        if not any(v.type == "indicator" for v in world.versions):
            return
        settings = load_settings(env={"ACCORD_DATA_DIR": str(workdir), "ACCORD_DATABASE_URL": url,
                                      "ACCORD_SYNC_SCHEDULER": "false", "ACCORD_ALERT_RUNNER": "false",
                                      "ACCORD_SIGHTING_MIN_COUNT": str(min_count)})
        client = TestClient(build_app(settings, store, clock=lambda: t), base_url="http://testserver",
                            follow_redirects=False)
        for reader in readers(store, world, t):
            check_service_scores(store, world, reader.username, t)
            check_served_scores(client, store, built, reader, t, min_count)
        check_cli_exports(url, world, min_count)
        # Sightings an organisation may not see move none of its users' scores.
        for round_no, org in enumerate(sorted(world.kinds)):
            users = [(u, k) for u, (o, _) in world.users.items() if o == org for k in (1, 2, 3)]
            before = {(u, k): service_scores(store, u, t, k) for u, k in users}
            if not add_hidden(store, built, org, hidden, t, round_no):
                continue
            for u, k in users:
                assert service_scores(store, u, t, k) == before[u, k], (
                    f"a sighting {u} ({org}) may not see moved a score it is given (min_count {k})")
            CASES["decay, sightings the reader may not see move no score"] += 1
    WORLDS[label] += 1


@flow_settings(60)
@given(spec=sighted_worlds(), hidden=hidden_sightings)
def test_a_score_depends_only_on_what_its_reader_may_be_told(
        template_db: Path, spec: tuple[World, frozenset[str], int], hidden: list[Hidden]) -> None:
    with sqlite_copy(template_db) as path:
        check_world(f"sqlite:///{path}", path.parent, spec, hidden, label="decay")


@flow_settings(6)
@given(spec=sighted_worlds(), hidden=hidden_sightings)
def test_scores_on_postgres(request: pytest.FixtureRequest, spec: tuple[World, frozenset[str], int],
                            hidden: list[Hidden]) -> None:
    with postgres_copy(request, "accord_decay") as url, tempfile.TemporaryDirectory() as workdir:
        check_world(url, Path(workdir), spec, hidden, label="decay postgres")
