"""The hub's wire contract: every message, identity, role and REST body two ends exchange.

One definition each, imported by both ends (the hub service, the call engine, the desk, the
site station, the sync runner and the exports). Nothing here imports the hub's service code,
so importing the contract loads no FastAPI, SQLAlchemy or Qt.
"""
