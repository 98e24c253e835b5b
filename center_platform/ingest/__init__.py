"""Receiving a clip from a branch: upload plan, assembly, the check list, cataloguing or quarantine."""
