"""Dispatch: calls from Parley to bot and integration servers, made from the outbox."""
