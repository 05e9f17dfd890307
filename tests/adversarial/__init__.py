"""The adversarial suite: hostile HTTP and gRPC inputs against one real relay."""
