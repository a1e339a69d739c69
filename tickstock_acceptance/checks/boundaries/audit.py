"""What the database server itself recorded of TickStockApp's writes (SVC-1's second half, SVC-2).

The embedded PostgreSQL logs every modifying statement of the consumer role's sessions
(``log_statement = 'mod'`` for that role) and every denied statement (an ERROR with its STATEMENT),
each line prefixed with the session's process, user and application name (``<time> [<pid>]
<user|application> LEVEL:  text``). TickStockApp connects as the consumer role and nothing else
does but the suite, whose sessions carry application names starting with ``SUITE_APPLICATION``:
so every write or denied statement of the consumer role from another application is TickStockApp
attempting a write. The suite's own probe (one granted write, denied ones) is the positive
control: a log that records nothing cannot pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUITE_APPLICATION = "tickstock-acceptance"
_PREFIXED = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+) \[(?P<pid>\d+)\] "
    r"(?:<(?P<user>[^|>]*)\|(?P<app>.*?)> )?"
    r"(?P<level>[A-Z]+):  (?P<text>.*)$")
_WRITE = re.compile(r"^(statement|execute [^:]*): ", re.IGNORECASE)


@dataclass
class LogEntry:
    at: str
    pid: int
    user: str
    application: str
    level: str
    text: str


@dataclass(frozen=True)
class LoggedWrite:
    """A modifying statement the server ran (``wrote``) or refused (``denied``), and whose it was."""

    kind: str            # "wrote" or "denied"
    pid: int
    user: str
    application: str
    statement: str
    error: str = ""

    def describe(self) -> str:
        who = f"{self.user} [{self.application or 'no application name'}, pid {self.pid}]"
        what = _one_line(self.statement) or "?"
        return f"{who} {self.kind}: {what}" + (f" ({self.error})" if self.error else "")


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def parse_log(text: str) -> list[LogEntry]:
    """The server log's entries (a line with the prefix starts one; other lines continue it)."""
    entries: list[LogEntry] = []
    for line in text.splitlines():
        m = _PREFIXED.match(line)
        if m:
            entries.append(LogEntry(m["ts"], int(m["pid"]), m["user"] or "", m["app"] or "", m["level"],
                                    m["text"]))
        elif entries and line.startswith(("\t", " ")):
            entries[-1].text += "\n" + line.strip()
    return entries


def writes_of(entries: list[LogEntry], role: str) -> list[LoggedWrite]:
    """Every statement of ``role`` the server logged as a write, or refused for lack of privilege."""
    found: list[LoggedWrite] = []
    pending: dict[int, LogEntry] = {}   # pid → its permission error, waiting for its STATEMENT line
    for e in entries:
        if e.user != role:
            continue
        if e.level == "LOG" and _WRITE.match(e.text):
            found.append(LoggedWrite("wrote", e.pid, e.user, e.application, _WRITE.sub("", e.text, count=1)))
        elif e.level == "ERROR" and "permission denied" in e.text:
            pending[e.pid] = e
        elif e.level == "STATEMENT" and e.pid in pending:
            error = pending.pop(e.pid)
            found.append(LoggedWrite("denied", e.pid, e.user, e.application, e.text, error.text))
    found += [LoggedWrite("denied", pid, e.user, e.application, "", e.text) for pid, e in pending.items()]
    return found


def is_suite(write: LoggedWrite) -> bool:
    return write.application.startswith(SUITE_APPLICATION)


# -- problem finders (pure) -----------------------------------------------------------------------
def control_problems(writes: list[LoggedWrite], probe_application: str, granted_table: str,
                     denied_tables: list[str]) -> list[str]:
    """The log recorded the probe's granted write and its refused ones (the audit works)."""
    mine = [w for w in writes if w.application == probe_application]
    problems = []
    if not any(w.kind == "wrote" and granted_table in w.statement for w in mine):
        problems.append(f"the probe's granted write on {granted_table} is not in the server log: "
                        "the log does not record the consumer role's writes")
    for table in denied_tables:
        if not any(w.kind == "denied" and table in (w.statement + w.error) for w in mine):
            problems.append(f"the probe's refused write on {table} is not in the server log")
    return problems


def app_write_problems(writes: list[LoggedWrite]) -> list[str]:
    """Nothing but the suite wrote, or tried to write, as the consumer role: each write of
    TickStockApp (any other session of the role) named with its session and statement."""
    return [w.describe() for w in writes if not is_suite(w)]
