"""The hub's HTTP surface: one module of routes per area, assembled by hub/app.py."""
