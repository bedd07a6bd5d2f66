"""telehub clinical record: NEWS2, NHS numbers, triage records, the local store and sync (no Qt)."""
