"""Redis connections with errors a person can act on."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from tickstock_acceptance.core.errors import SuiteError, first_line


@dataclass(frozen=True)
class RedisEndpoint:
    host: str
    port: int

    def where(self) -> str:
        return f"{self.host}:{self.port}"


def client(endpoint: RedisEndpoint, db: int, **kwargs) -> redis.Redis:
    """A redis-py client for one logical database (decoded strings, short timeouts)."""
    kwargs.setdefault("socket_connect_timeout", 3)
    kwargs.setdefault("socket_timeout", 10)
    return redis.Redis(host=endpoint.host, port=endpoint.port, db=db, decode_responses=True,
                       **kwargs)


def cluster_client(endpoint: RedisEndpoint, **kwargs) -> RedisCluster:
    """A redis-py cluster client started from one node (it learns the others and the slot map);
    decoded strings, short timeouts, as ``client``. A cluster has database 0 only."""
    kwargs.setdefault("socket_connect_timeout", 3)
    kwargs.setdefault("socket_timeout", 10)
    return RedisCluster(host=endpoint.host, port=endpoint.port, decode_responses=True, **kwargs)


def checked_cluster_client(endpoint: RedisEndpoint) -> RedisCluster:
    """A cluster client whose every primary answered PING, or SuiteError with the reason in one line."""
    try:
        rc = cluster_client(endpoint)
        rc.ping(target_nodes=RedisCluster.PRIMARIES)
    except redis.AuthenticationError:
        raise SuiteError(f"Redis at {endpoint.where()} rejected the credentials",
                         "check the Redis password settings") from None
    except (RedisClusterException, redis.RedisError) as exc:
        raise SuiteError(f"Redis Cluster at {endpoint.where()} is not usable: {first_line(exc)}",
                         "name a node of a running cluster in TEST_REDIS_HOST/TEST_REDIS_PORT, or unset "
                         "TEST_REDIS_CLUSTER for a standalone Redis") from None
    return rc


def checked_client(endpoint: RedisEndpoint, db: int) -> redis.Redis:
    """A client that has answered PING, or SuiteError with the reason in one line."""
    r = client(endpoint, db)
    try:
        r.ping()
    except redis.AuthenticationError:
        raise SuiteError(f"Redis at {endpoint.where()} rejected the credentials",
                         "check the Redis password settings") from None
    except redis.ResponseError as exc:
        cluster = "cluster" in str(exc).lower()
        raise SuiteError(f"Redis at {endpoint.where()} refused database {db}: {first_line(exc)}",
                         "it is a node of a Redis Cluster: set TEST_REDIS_CLUSTER=1" if cluster
                         else "the server needs at least 16 logical databases") from None
    except (redis.ConnectionError, redis.TimeoutError):
        raise SuiteError(f"Redis at {endpoint.where()} is unreachable",
                         "start it or correct TEST_REDIS_HOST/TEST_REDIS_PORT") from None
    return r


def try_ping(endpoint: RedisEndpoint) -> bool:
    """One PING, no retries (redis-py retries 3 times with backoff by default: a liveness probe must
    answer for the server as it is now)."""
    probe = client(endpoint, 0, socket_connect_timeout=2, socket_timeout=2, retry=Retry(NoBackoff(), 0))
    try:
        return bool(probe.ping())
    except redis.RedisError:
        return False
    finally:
        probe.close()
