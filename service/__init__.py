"""clerk-relay's gRPC side: servicers, broadcaster, store backends and the entity projection."""
