"""clerk-relay benchmarks: each figure measured beside its baseline in the same run."""
