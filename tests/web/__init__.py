"""Tests of the web app (platform/views and platform/forms) through the Flask test client."""
