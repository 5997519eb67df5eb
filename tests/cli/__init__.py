"""Tests of the `flowdeck` command (platform/cli.py) and of serving."""
