"""Durable consumer groups: each matching event handled by one member of a group at a time.

`ConsumerEngine` (`service.consumers.engine`) runs this process's groups over
the stored state (`service.storage.ConsumerState`); `ConsumerServicer`
(`service.consumers.servicer`) serves `clerkrelay.v1.ConsumerService` from
it. Inside: the settings and their defaults (`settings`), a member's stream
(`member`), one group's rounds of settling, examining and claiming
(`dispatcher`), the `ConsumerGroup` figures (`info`) and the encoded
responses (`wire`).
"""

from service.consumers.engine import ConsumerEngine
from service.consumers.servicer import SERVICE_NAME, ConsumerServicer, add_to_server

__all__ = ["SERVICE_NAME", "ConsumerEngine", "ConsumerServicer", "add_to_server"]
