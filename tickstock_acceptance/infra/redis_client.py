"""Redis connections with errors a person can act on."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.backoff import NoBackoff
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


def checked_client(endpoint: RedisEndpoint, db: int) -> redis.Redis:
    """A client that has answered PING, or SuiteError with the reason in one line."""
    r = client(endpoint, db)
    try:
        r.ping()
    except redis.AuthenticationError:
        raise SuiteError(f"Redis at {endpoint.where()} rejected the credentials",
                         "check the Redis password settings") from None
    except redis.ResponseError as exc:
        raise SuiteError(f"Redis at {endpoint.where()} refused database {db}: {first_line(exc)}",
                         "the server needs at least 16 logical databases") from None
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
