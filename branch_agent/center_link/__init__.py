"""Everything the branch says to the center: the signed client, the settings sync, the heartbeat."""
