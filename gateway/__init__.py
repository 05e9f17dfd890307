"""clerk-relay's HTTP side: webhook verification, JSON → protobuf conversion, health, metrics."""
