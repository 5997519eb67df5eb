"""Tests of the demo (platform/demo): its data files and loading them through the engine."""
