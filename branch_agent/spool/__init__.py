"""The clips on the branch disk: manifests, recovery after a crash, disk guard and forecast, purge, the local audit."""
