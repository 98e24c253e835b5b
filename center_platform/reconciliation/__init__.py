"""Reconciliation of the core system's sales against the archive's recordings (应录未录 and the rest):
the ledger import, the nightly matching run and the gaps compliance officers work."""
