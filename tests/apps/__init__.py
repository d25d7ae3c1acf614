"""Tests of the business applications."""
