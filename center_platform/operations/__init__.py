"""How the branches are doing: heartbeats, upload backlog, chain gaps."""
