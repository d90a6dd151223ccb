"""Parley: a self-hosted chat runtime that speaks the Botpress Runtime API."""

__version__ = "0.1.0"
