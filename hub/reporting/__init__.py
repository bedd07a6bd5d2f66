"""The manager's report over the hub's database: figures, roll-ups, drill-downs and files.

report.py builds the figures from the hub's tables (hub/models.py), drill.py lists the calls
or records behind one, rollup.py keeps the roll-ups exact, files.py writes the summary CSV,
the workbook and the board paper; tables.py declares the roll-up tables for hub/models.py.
The clinical record's own rules (NEWS2, codes, the avoided-admission log) stay in records/.
"""
