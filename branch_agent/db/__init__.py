"""The branch spool database: clips on this host, their upload state, the manifest chain, local audit."""
