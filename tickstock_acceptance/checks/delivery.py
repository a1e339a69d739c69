"""The delivery checker (modelled on Jepsen's queue checker), shared by every message-flow check.

Input: what each producer acknowledged sending (producer id → the sequence numbers it published,
from its own report: the contract numbers one producer's messages 1, 2, 3, ...) and what one
consumer received, in the order it received them. Output: the messages lost, duplicated, received
out of order (per producer) or unexpected (from no acknowledged producer, or a sequence number the
producer never acknowledged), and the delivery latency distribution of what arrived.

Pub-sub is at-most-once: a check of a live subscriber may accept losses and report them
(``problems(allow_loss=True)`` still fails on duplicates, disorder and the unexpected); a stream
consumer must lose nothing that was acknowledged.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tickstock_acceptance.core.statistics import Distribution
from tickstock_acceptance.sut.subscriber import Received


@dataclass
class DeliveryReport:
    acknowledged: int
    received: int
    lost: list[tuple[str, int]] = field(default_factory=list)          # (producer, sequence)
    duplicated: list[tuple[str, int]] = field(default_factory=list)
    out_of_order: list[tuple[str, int, int]] = field(default_factory=list)  # (producer, after, got)
    unexpected: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def delivered(self) -> int:
        """Acknowledged messages that arrived at least once."""
        return self.acknowledged - len(self.lost)

    @property
    def success_rate(self) -> float:
        """Per cent of the acknowledged messages that arrived (100 when nothing was acknowledged)."""
        return 100.0 * self.delivered / self.acknowledged if self.acknowledged else 100.0

    def latency(self) -> Distribution | None:
        return Distribution.of(self.latencies_ms) if self.latencies_ms else None

    def problems(self, allow_loss: bool = False) -> list[str]:
        out = []
        if not self.acknowledged:
            out.append("no producer acknowledged sending anything")
        if self.lost and not allow_loss:
            out.append(f"{len(self.lost)} of {self.acknowledged} acknowledged messages lost, e.g. "
                       f"{_some(self.lost)}")
        if self.duplicated:
            out.append(f"{len(self.duplicated)} messages received more than once, e.g. "
                       f"{_some(self.duplicated)}")
        if self.out_of_order:
            out.append(f"{len(self.out_of_order)} messages out of their producer's order, e.g. "
                       + ", ".join(f"{p} sequence {got} after {after}"
                                   for p, after, got in self.out_of_order[:3]))
        if self.unexpected:
            out.append(f"{len(self.unexpected)} messages no producer acknowledged, e.g. "
                       f"{self.unexpected[:3]}")
        return out

    def summary(self) -> str:
        return (f"{self.received} received for {self.acknowledged} acknowledged: {len(self.lost)} lost, "
                f"{len(self.duplicated)} duplicated, {len(self.out_of_order)} out of order, "
                f"{len(self.unexpected)} unexpected")


def _some(pairs) -> str:
    return ", ".join(f"{p}#{s}" for p, s in list(pairs)[:3])


def acknowledged_by(reports: Iterable[Mapping]) -> dict[str, set[int]]:
    """Producer id → sequences 1..N, from producer reports that say how many messages they published
    (``published_count``) or list them (``published``)."""
    out: dict[str, set[int]] = {}
    for report in reports:
        pid = report.get("producer_id")
        if not pid:
            continue
        count = report.get("published_count", len(report.get("published", [])))
        out.setdefault(pid, set()).update(range(1, int(count) + 1))
    return out


def acknowledged_on(persisted: Iterable[Received]) -> dict[str, set[int]]:
    """Producer id → the sequences found on its stream (XADD is the acknowledgement there)."""
    out: dict[str, set[int]] = {}
    for r in persisted:
        seq = (r.message or {}).get("sequence")
        if r.producer_id and isinstance(seq, int):
            out.setdefault(r.producer_id, set()).add(seq)
    return out


def check_delivery(acknowledged: Mapping[str, set[int]], received: Iterable[Received]) -> DeliveryReport:
    """Compare what the producers acknowledged with what one consumer received (in arrival order)."""
    received = list(received)
    report = DeliveryReport(sum(len(s) for s in acknowledged.values()), len(received))
    seen: dict[str, Counter] = defaultdict(Counter)
    last: dict[str, int] = {}
    for r in received:
        pid, seq = r.producer_id, (r.message or {}).get("sequence")
        if pid not in acknowledged or not isinstance(seq, int) or seq not in acknowledged[pid]:
            report.unexpected.append(f"{r.channel} {pid}#{seq}")
            continue
        seen[pid][seq] += 1
        if seen[pid][seq] == 2:
            report.duplicated.append((pid, seq))
        if pid in last and seq < last[pid] and seen[pid][seq] == 1:
            report.out_of_order.append((pid, last[pid], seq))
        last[pid] = max(seq, last.get(pid, 0))
        if r.received_at and isinstance(r.message, dict) and r.message.get("timestamp"):
            try:
                report.latencies_ms.append(r.latency_ms())
            except (KeyError, ValueError):
                pass
    for pid, sequences in acknowledged.items():
        report.lost += [(pid, s) for s in sorted(sequences) if not seen[pid][s]]
    return report
