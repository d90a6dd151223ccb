"""The Chat API (`@botpress/chat`): a built-in `chat` integration whose HTTP API Parley serves
itself, with user keys, client-chosen ids and live streams of what happens in a conversation."""
