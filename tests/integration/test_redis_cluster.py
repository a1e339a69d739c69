"""A 3-node Redis Cluster (``EmbeddedRedisCluster``), the producer's publishing and TickStockApp on it.

What the cluster work builds on, checked on real nodes: PUBLISH crosses the cluster (a subscriber on
one node hears a message published through another); redis-py's cluster pipeline refuses PUBLISH, so
the producer runs its PUBLISH + XADD MULTI on the node owning the stream's slot; streams in different
slots cannot share one MULTI, so an event sent on two channels goes out with one MULTI per channel.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import redis
from redis.cluster import ClusterNode, RedisCluster

from tests.app.test_app_service import App, get, migrated_database, wait_for
from tests.conftest import ROOT, cli_env, run_cli, signoff_items, three_identities_env
from tickstock_acceptance.infra.embedded import EmbeddedPostgres, EmbeddedRedisCluster, RunDir
from tickstock_producer import events
from tickstock_producer.facade import Producer, ProducerConfig

THEME = {"theme": "bonds", "symbol_count": 3, "action": "created", "cache_key": "etf_bonds"}


@pytest.fixture(scope="module")
def cluster():
    run_dir = RunDir()
    try:
        nodes = EmbeddedRedisCluster(run_dir.path).start()
        try:
            yield nodes
        finally:
            nodes.close()
    finally:
        run_dir.remove()


def _client(cluster) -> RedisCluster:
    return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in cluster.startup_nodes()],
                        decode_responses=True)


def test_three_primaries_share_every_slot_and_keys_spread_over_them(cluster):
    rc = _client(cluster)
    info = rc.cluster_info()
    assert info["cluster_state"] == "ok" and int(info["cluster_slots_assigned"]) == 16384
    assert len(rc.get_primaries()) == 3
    owners = {rc.get_node_from_key(events.stream_key(c)).port for c in events.CHANNELS.values()}
    assert len(owners) > 1, "the streams all landed on one node"
    rc.close()


def test_the_producers_events_reach_a_subscriber_on_another_node_and_their_streams(cluster):
    rc = _client(cluster)
    stream = events.stream_key(events.CHANNEL_UNIVERSE_UPDATED)
    other = next(n for n in cluster.nodes if n.port != rc.get_node_from_key(stream).port)
    listener = redis.Redis(host=other.host, port=other.port, decode_responses=True).pubsub()
    listener.psubscribe("tickstock*")
    assert listener.get_message(timeout=2)["type"] == "psubscribe"
    publisher = events.EventPublisher(rc, "test_cluster")
    sent = [publisher.publish("theme_updated", THEME) for _ in range(5)]
    heard = [listener.get_message(timeout=2) for _ in sent]
    assert [json.loads(m["data"])["sequence"] for m in heard] == [1, 2, 3, 4, 5]
    kept = [json.loads(f["data"])["sequence"] for _id, f in rc.xrange(stream)][-5:]
    assert kept == [1, 2, 3, 4, 5]
    assert [s.stream_id for s in sent] == [i for i, _ in rc.xrange(stream)][-5:]
    # one message on two channels whose streams sit in different slots (daily_sync_complete's): one
    # MULTI per channel, the message kept on both
    pair = [events.CHANNEL_CACHE_SYNC_COMPLETE, events.CHANNEL_AUTOMATION]
    assert len({rc.keyslot(events.stream_key(c)) for c in pair}) == 2
    replies = publisher.send_many([(c, '{"probe": 1}') for c in pair])
    assert [rc.xrange(events.stream_key(c))[-1][0] for c in pair] == [r[1] for r in replies]
    rc.close()


def test_redis_py_refuses_publish_in_a_cluster_pipeline(cluster):
    """Why the producer opens its MULTI on the stream's node (see EventPublisher.transaction)."""
    rc = _client(cluster)
    pipe = rc.pipeline(transaction=True)
    with pytest.raises(redis.exceptions.RedisClusterException, match="publish"):
        pipe.publish("tickstock.universe.updated", "x")
    rc.close()


def test_the_producer_facade_connects_to_a_cluster_from_its_settings(cluster):
    host, port = cluster.startup_nodes()[0]
    config = ProducerConfig.from_env({"TICKSTOCK_PL_REDIS_HOST": host, "TICKSTOCK_PL_REDIS_PORT": str(port),
                                      "TICKSTOCK_PL_REDIS_CLUSTER": "1"})
    producer = Producer(config, source={})
    try:
        assert isinstance(producer.redis, RedisCluster)
        assert producer.redis.ping()
        sent = producer.publisher.publish("theme_updated", THEME)
        assert sent.stream_id and sent.channel == events.CHANNEL_UNIVERSE_UPDATED
    finally:
        producer.close()


DB = "cluster_flow_test"


@pytest.fixture(scope="module")
def database():
    """A migrated test database with passwords for TickStockApp's and the producer's roles."""
    run_dir = RunDir()
    pg = None
    try:
        pg = EmbeddedPostgres(run_dir.path).start()
        yield pg, migrated_database(pg, DB)
    finally:
        if pg is not None:
            pg.close()
        run_dir.remove()


def test_tickstock_app_follows_the_producers_expansion_through_the_cluster(cluster, database, tmp_path):
    """The producer and TickStockApp, both in cluster mode on different entry nodes: TickStockApp
    announces every notification (pub-sub across nodes), refreshes its view from its consumer group
    on the stream and acknowledges every entry."""
    pg, passwords = database
    (h1, p1), _, (h3, p3) = cluster.startup_nodes()
    app = App({"TICKSTOCK_APP_DB_HOST": pg.host, "TICKSTOCK_APP_DB_PORT": str(pg.port),
               "TICKSTOCK_APP_DB_NAME": DB, "TICKSTOCK_APP_DB_USER": "app_readwrite",
               "TICKSTOCK_APP_DB_PASSWORD": passwords["app_readwrite"], "TICKSTOCK_APP_REDIS_HOST": h3,
               "TICKSTOCK_APP_REDIS_PORT": str(p3), "TICKSTOCK_APP_REDIS_CLUSTER": "1"}, tmp_path)
    try:
        app.wait_serving()
        wait_for(lambda: app.health()["redis"]["state"] == "up", 10, "TickStockApp's Redis up",
                 on_timeout=app.logs)
        env = cli_env({"TICKSTOCK_PL_DB_HOST": pg.host, "TICKSTOCK_PL_DB_PORT": str(pg.port),
                       "TICKSTOCK_PL_DB_NAME": DB, "TICKSTOCK_PL_DB_USER": "tickstock_producer",
                       "TICKSTOCK_PL_DB_PASSWORD": passwords["tickstock_producer"],
                       "TICKSTOCK_PL_REDIS_HOST": h1, "TICKSTOCK_PL_REDIS_PORT": str(p1),
                       "TICKSTOCK_PL_REDIS_CLUSTER": "1"})
        done = subprocess.run([sys.executable, "-m", "tickstock_producer", "--json", "expand"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout.strip().splitlines()[-1])
        sent = len(report["published"])
        themes = {t["theme"] for t in report["themes"] if t["status"] == "completed"}
        assert sent > 1 and themes

        def followed():
            health = app.health()
            view = get(app.base, "/api/view")[1]["themes"]
            return health["consumed"] >= sent and health["acknowledged"] >= sent and themes <= set(view)
        wait_for(followed, 15, "TickStockApp following the expansion through the cluster",
                 on_timeout=lambda: f"{app.health()}\n{app.logs()}")
        assert app.health()["dead_letters"] == 0
        assert "cannot connect" not in app.logs(), app.logs()
    finally:
        app.close()


def test_the_message_flow_features_pass_against_the_cluster_in_external_mode(cluster, database, tmp_path):
    """The suite in external mode against the 3-node cluster: the environment gate (ENV-2's cluster
    scenario) and the Redis message-flow feature (RED-1, RED-2, RED-4's burst; the slow-subscriber
    scenario needs a Redis the run owns). Every key the run wrote is in its namespace and gone afterwards;
    a key outside it stays."""
    pg, passwords = database
    host, port = cluster.startup_nodes()[1]
    rc = _client(cluster)
    outsider = "prod:keep-me"  # someone else's key on the same cluster
    rc.set(outsider, "1")

    def keys() -> set[str]:
        return {k for node in cluster.nodes
                for k in redis.Redis(host=node.host, port=node.port, decode_responses=True).keys("*")}
    before = keys()  # the other tests' streams and the outsider
    env = three_identities_env(pg, DB, passwords, host, port, TEST_REDIS_CLUSTER="1")
    try:
        result = run_cli("run", "--no-report", "--tags", "@redis and @redis_flow", env=env,
                         reports_dir=tmp_path)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        items = signoff_items(result.reports_dir)
        assert {i: items[i]["status"] for i in ("ENV-2", "RED-1", "RED-2")} == dict.fromkeys(
            ("ENV-2", "RED-1", "RED-2"), "passed")
        assert "alternative scenario skipped" in items["ENV-2"]["reason"]
        assert items["RED-4"]["status"] == "not run"  # its burst passed; its slow subscriber is embedded-only
        facts = json.loads((result.reports_dir / "run-facts.json").read_text())
        assert "cluster of 3 primaries" in facts["redis"] and "test_acceptance:" in facts["target"]
        assert keys() == before, sorted(keys() ^ before)[:10]
    finally:
        rc.delete(outsider)
        rc.close()


def test_env2_fails_on_a_cluster_whose_primary_refuses_writes_and_the_gate_stops_the_run(cluster, database,
                                                                                        tmp_path):
    """A broken cluster: every node answers PING and every slot is served, but one primary is out of
    memory (maxmemory 1 byte, no eviction) and refuses writes. ENV-2's cluster scenario names that
    primary and the server's refusal; ENV-1 and ENV-3 still pass; the environment gate stops the run."""
    pg, passwords = database
    host, port = cluster.startup_nodes()[0]
    broken = cluster.nodes[2]
    node = redis.Redis(host=broken.host, port=broken.port, decode_responses=True)
    node.config_set("maxmemory", "1")
    try:
        result = run_cli("run", "--no-report", "--tags", "@redis and @redis_flow",
                         env=three_identities_env(pg, DB, passwords, host, port, TEST_REDIS_CLUSTER="1"),
                         reports_dir=tmp_path)
    finally:
        node.config_set("maxmemory", "0")
        node.close()
    assert result.returncode != 0
    items = signoff_items(result.reports_dir)
    assert items["ENV-2"]["status"] == "failed"
    assert f"primary {broken.host}:{broken.port} could not keep" in items["ENV-2"]["reason"]
    assert "used memory > 'maxmemory'" in items["ENV-2"]["reason"], items["ENV-2"]["reason"]
    assert items["ENV-1"]["status"] == items["ENV-3"]["status"] == "passed"
    assert items["RED-1"]["status"] == "not run", "the environment gate stops the run"
