"""ENV-1's problem finder: the target database's catalog compared with the database contract.

The catalog is read as TickStockApp (the consumer role), as the rest of ENV-1 connects; the
contract is ``contract/database.toml``. Every difference - a missing table or column, a changed
type, default or NOT NULL, a missing key, an index that differs in columns, order or direction, a
missing signature or an extra overload, a result type that differs, a grant a role lacks or must
not have - comes back as one line. The comparison itself is ``DatabaseContract.compare``
(``contract/database.py``): the external-mode preflight (``infra/migrations.require_schema``) uses
the same one, and it sits below ``checks``.

Extra indexes on the contract's tables are notes, not differences: they are attached to the
Allure result (with the full list of differences, which the failure message shortens).
"""

from __future__ import annotations

import allure

from tickstock_acceptance.contract.database import DATABASE_CONTRACT, DATABASE_FILE
from tickstock_acceptance.contract.identities import judged_as
from tickstock_acceptance.infra.catalog import Catalog
from tickstock_acceptance.infra.system import AcceptanceSystem

ATTACHMENT_NAME = "database contract comparison"


def database_contract_differences(system: AcceptanceSystem, as_role: str = "consumer") -> list[str]:
    """Every way the target's catalog differs from the database contract, one line each."""
    with system.session(as_role) as conn:
        # The roles judged are the identities the run connects as (in embedded mode the contract's own).
        comparison = DATABASE_CONTRACT.compare(Catalog(conn), judged_as(system.endpoint("consumer").user,
                                                                        system.endpoint("producer").user))
    if comparison.differences or comparison.notes:
        lines = ([f"compared with {DATABASE_FILE.name}:"]
                 + [f"difference: {d}" for d in comparison.differences]
                 + [f"note: {n}" for n in comparison.notes])
        allure.attach("\n".join(lines), name=ATTACHMENT_NAME, attachment_type=allure.attachment_type.TEXT)
    return comparison.differences
