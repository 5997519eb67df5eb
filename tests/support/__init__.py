"""Helpers shared by the test packages: databases, app documents, factories, web steps.

Test modules import helpers from here, never from each other."""
