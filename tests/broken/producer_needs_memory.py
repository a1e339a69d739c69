"""Broken producer: every command first reserves a 1.5 GiB cache arena (the constrained-success scenario
must turn red).

The arena is an anonymous mapping that is never touched, so it costs address space, not resident
memory: unconstrained, the producer works exactly as the reference and every other scenario passes.
Under the constrained profile (address space capped at 1 GiB) the reservation fails and every
producer command exits with an error: a third of the operation set fails, the success rate falls
under the spec's 70 %. Run as ``-D producer=tests.broken.producer_needs_memory``.
"""

import mmap
import sys

from tickstock_producer import cli, facade

ARENA_BYTES = 1536 * 1024 * 1024


def create_producer(config, source=None):
    return facade.Producer(config, source)


deploy = facade.deploy

if __name__ == "__main__":
    try:
        arena = mmap.mmap(-1, ARENA_BYTES)  # reserved for the producer's whole life
    except OSError as exc:
        print(f"error: cannot reserve the {ARENA_BYTES // 2**20} MiB cache arena: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(cli.main(factory=create_producer, deploy=deploy))
