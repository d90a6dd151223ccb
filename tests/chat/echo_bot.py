"""A stand-in bot server for the Chat API tests: it answers a user's message with `echo: <text>`
and a client's custom event with a `chat:sendEvent` back, through the Runtime API, as a bot
written with the SDK would from its handlers."""

from typing import Any

import httpx

from tests.harness import Api
from tests.recorder import Received, Recorder


def echo_text(payload: dict[str, Any], message_type: str) -> str:
    """What the bot answers to a message: its text, or its type when it has none."""
    return f"echo: {payload.get('text', message_type)}"


class EchoBot:
    """Records every call Parley makes to the bot (`calls`) and answers as said above, calling
    Parley back through `api` (the bot's key; set once the bot exists). A callback that failed is
    listed in `errors`; the bot still answers 200, so that Parley does not call it again."""

    def __init__(self) -> None:
        self.recorder = Recorder(self._answer)
        self.api: Api | None = None
        self.errors: list[str] = []

    @property
    def url(self) -> str:
        return self.recorder.url

    @property
    def calls(self) -> list[Received]:
        return self.recorder.calls

    def __enter__(self) -> "EchoBot":
        self.recorder.__enter__()
        return self

    def __exit__(self, *_: object) -> None:
        self.recorder.__exit__()

    def events(self, event_type: str) -> list[dict[str, Any]]:
        """The events of `event_type` the bot was sent, oldest first."""
        return [
            call.body["event"]
            for call in list(self.calls)
            if call.headers.get("x-bp-operation") == "event_received" and call.body["event"]["type"] == event_type
        ]

    def _answer(self, received: Received) -> tuple[int, Any]:
        if received.headers.get("x-bp-operation") != "event_received" or self.api is None:
            return 200, {}
        event = received.body["event"]
        try:
            if event["type"] == "message_created":
                message = event["payload"]["message"]
                self._call(
                    "/v1/chat/messages",
                    {
                        "conversationId": event["conversationId"],
                        "userId": self.api.headers["x-bot-id"],
                        "type": "text",
                        "payload": {"text": echo_text(message["payload"], message["type"])},
                        "tags": {},
                    },
                )
            elif event["type"] == "chat:custom":
                self._call(
                    "/v1/chat/actions",
                    {
                        "type": "chat:sendEvent",
                        "input": {"conversationId": event["conversationId"], "payload": {"received": event["payload"]}},
                    },
                )
        except (httpx.HTTPError, KeyError, TypeError) as failure:
            self.errors.append(f"{event.get('type')}: {failure!r}")
        return 200, {}

    def _call(self, path: str, body: dict[str, Any]) -> None:
        assert self.api is not None
        response = self.api.call("POST", path, body)
        if response.status_code >= 300:
            self.errors.append(f"POST {path}: {response.status_code} {response.text}")
