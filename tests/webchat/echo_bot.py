"""A bot server for the webchat tests: Parley delivers it `event_received`, and it answers each
text message of a user through the Runtime API, as a bot built with the SDK would."""

import threading
from typing import Any

import httpx

from tests.harness import Api
from tests.recorder import Received, Recorder


class EchoBot:
    """Replies `You said: <text>` to every text a user writes; `texts` lists what it was told
    (the message payloads, in order)."""

    def __init__(self) -> None:
        self.texts: list[dict[str, Any]] = []
        self.api: Api | None = None
        self._recorder = Recorder(self._received)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._recorder.url

    def __enter__(self) -> "EchoBot":
        self._recorder.__enter__()
        return self

    def __exit__(self, *_: object) -> None:
        self._recorder.__exit__()

    def _received(self, received: Received) -> tuple[int, Any]:
        event = (received.body or {}).get("event") or {}
        message = (event.get("payload") or {}).get("message") or {}
        user_text = message.get("direction") == "incoming" and message.get("type") == "text"
        if event.get("type") == "message_created" and user_text:
            with self._lock:
                self.texts.append(message["payload"])
            # Answered after Parley has its 200, as a bot that replies while it works would.
            threading.Thread(target=self._reply, args=(event["conversationId"], message["payload"])).start()
        return 200, {}

    def _reply(self, conversation_id: str, payload: dict[str, Any]) -> None:
        assert self.api is not None, "the bot's key is given before it is talked to"
        body = {
            "conversationId": conversation_id,
            "userId": self.api.headers["x-bot-id"],
            "type": "text",
            "payload": {"text": f"You said: {payload['text']}"},
            "tags": {},
        }
        httpx.post(f"{self.api.server.url}/v1/chat/messages", json=body, headers=self.api.headers, timeout=30)
