"""The manager's view of the desk: the dashboard, drill-down and exports (issue 7)."""
