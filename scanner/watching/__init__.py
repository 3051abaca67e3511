"""``driftscan watch``: list + watch the cluster, keep findings current, serve metrics."""
