"""clerk-relay's gRPC side: servicers, broadcaster, subscriptions; storage is `service.storage`."""
