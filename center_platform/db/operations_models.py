"""Catalogue tables of operations: every device of every branch as its heartbeats report it, the history
of its status changes, and the alerts raised about devices, picture quality, disks, backlogs, late
heartbeats, chain gaps, quarantines and failed checks, with their webhook deliveries.

Kept apart from `models.py` (same metadata, imported at its end) so that neither module grows past
the size the tree allows.
"""

from __future__ import annotations
