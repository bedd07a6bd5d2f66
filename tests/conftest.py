"""The suite's root: the shared fixtures (hubs, databases, browsers, the CI rule on skips) are
one plugin, tests/helpers/fixtures.py; each folder's conftest.py keeps only its own."""

pytest_plugins = ["tests.helpers.fixtures"]
