"""Names for a tenant's storage moved out of its tenant's reach: kept, being dropped or staged.

A schema or database that is not a live tenant's never sits at a tenant's name. Its name
starts with ``_`` (a tenant_id cannot) and says why it is there and since when (UTC):
``_kept_20250101t120000000000z_acme`` keeps a deleted tenant's data, ``_drop_...`` is about to
be dropped once a deletion commits, ``_new_...`` is being created and migrated. Names are cut
to fit PostgreSQL's 63 characters; the full tenant_id is in the marker (a comment).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

KEPT = "kept"
DROP = "drop"
NEW = "new"
_NAME = re.compile(r"_(kept|drop|new)_(\d{8}t\d{12}z)_(.*)")
_STAMP = "%Y%m%dt%H%M%S%fz"
MARKER = "omnitenant"


@dataclass(frozen=True)
class Aside:
    """A storage name outside every tenant's reach, parsed."""

    name: str
    state: str
    at: dt.datetime
    rest: str  # the tenant_id (maybe cut) or, for files, "<tenant_id>.<original file name>"


def aside_name(state: str, tenant_id: str, *, limit: int | None = 63) -> str:
    """A fresh name for ``tenant_id``'s storage in ``state`` (``KEPT``, ``DROP`` or ``NEW``)."""
    stamp = dt.datetime.now(dt.UTC).strftime(_STAMP)
    name = f"_{state}_{stamp}_{tenant_id}"
    return name[:limit] if limit else name


def parse(name: str) -> Aside | None:
    """The parts of an aside name, or None for any other name."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    at = dt.datetime.strptime(match[2], _STAMP).replace(tzinfo=dt.UTC)
    return Aside(name=name, state=match[1], at=at, rest=match[3])


def marker(tenant: Any, state: str = "") -> str:
    """The comment recording whose storage this is (and, aside, since when)."""
    record = {MARKER: state or "tenant", "tenant_id": tenant.tenant_id}
    record["pk"] = getattr(tenant, "pk", None)
    if state:
        record["at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return json.dumps(record, default=str)


def read_marker(text: str | None) -> dict[str, Any] | None:
    """A marker written by ``marker``, or None for any other comment."""
    try:
        record = json.loads(text or "")
    except ValueError:
        return None
    return record if isinstance(record, dict) and MARKER in record else None


def owns(record: dict[str, Any] | None, tenant: Any) -> bool:
    """True when ``record`` marks live storage of this very tenant row."""
    return (
        record is not None
        and record.get(MARKER) == "tenant"
        and record.get("tenant_id") == tenant.tenant_id
        and str(record.get("pk")) == str(getattr(tenant, "pk", None))
    )
