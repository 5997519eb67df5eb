"""Marshmallow schemas and form specs generated from entity definitions."""
