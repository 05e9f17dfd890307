"""Storage: the event log and the entity projection, behind one interface, in SQLite or PostgreSQL.

The rest of the relay uses only what this module exports: the `Store`
interface and its value types and errors (`service.storage.interface`),
and `open_store`, which opens the backend a database URL names
(`service.storage.factory`). The entity kinds it projects are declared in
the client package's registry, `clerkrelay.kinds`.

Inside, dependencies run one way (pinned by
`tests/service/storage/test_dependencies.py`): the backends,
`service.storage.sqlite` and `service.storage.postgres`, build on the modules
beside this one and never import each other; nothing here imports the
servers, the servicers, the gateway or the CLI.
"""

from service.storage.consumer_records import (
    MEMBER_REFRESH_S,
    Claim,
    GroupExists,
    GroupRow,
    GroupStats,
    MemberRow,
    ParkedRow,
    SettleKind,
    Settlement,
)
from service.storage.consumer_state import ConsumerState, Fill, PendingEvent
from service.storage.factory import (
    DEFAULT_DATABASE_URL,
    open_consumer_state,
    open_store,
    sqlite_path,
)
from service.storage.interface import (
    MAX_ENTITY_IDS,
    MAX_SEQUENCE,
    AppendResult,
    BeforeRetention,
    CommitListener,
    EntityPage,
    EntityQuery,
    EntityRecord,
    HistoryPage,
    ReadResult,
    Retention,
    RowFilter,
    SerializedPage,
    Store,
    StoredEvent,
    StoreError,
    StoreUnavailable,
)
from service.storage.passes import (
    ENDED_PASSES_KEPT,
    KIND_DONE,
    KIND_FAILED,
    KIND_LISTING,
    KIND_PENDING,
    PASS_RUNNING,
    KindCheckpoint,
    PassCheckpoint,
    PassLock,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "ENDED_PASSES_KEPT",
    "KIND_DONE",
    "KIND_FAILED",
    "KIND_LISTING",
    "KIND_PENDING",
    "MAX_ENTITY_IDS",
    "MAX_SEQUENCE",
    "MEMBER_REFRESH_S",
    "PASS_RUNNING",
    "AppendResult",
    "BeforeRetention",
    "Claim",
    "ConsumerState",
    "Fill",
    "PendingEvent",
    "CommitListener",
    "EntityPage",
    "EntityQuery",
    "EntityRecord",
    "GroupExists",
    "GroupRow",
    "GroupStats",
    "MemberRow",
    "ParkedRow",
    "HistoryPage",
    "KindCheckpoint",
    "PassCheckpoint",
    "PassLock",
    "ReadResult",
    "Retention",
    "RowFilter",
    "SerializedPage",
    "SettleKind",
    "Settlement",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoredEvent",
    "open_consumer_state",
    "open_store",
    "sqlite_path",
]
