"""The Webchat API of the official `@botpress/webchat`, served on the built-in chat channel."""
