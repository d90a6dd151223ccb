"""Who a Runtime API caller is, and what it may see: the one visibility rule."""

import hashlib
from dataclasses import dataclass

from parley.service.definitions import BotDefinition, Installation

# The kinds of API key, as the `api_keys.kind` column stores them.
ADMIN = "admin"
BOT = "bot"
INTEGRATION = "integration"
# The owner recorded on what belongs to the bot itself (users, conversations, events, states,
# workflows); what an integration creates records its installation's alias instead.
BOT_OWNER = ""


def hash_token(token: str) -> str:
    """What is stored of an API key or admin token, and what a caller's token is looked up by."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Identity:
    """A Runtime API caller: a bot, or an integration acting inside a bot that installed it."""

    bot: BotDefinition
    installation: Installation | None = None

    @property
    def bot_id(self) -> str:
        return self.bot.id

    @property
    def alias(self) -> str | None:
        """The installation's alias for an integration, None for the bot. Lists pass it to the
        store as their owner filter: the same rule as `sees`, applied in the query."""
        return None if self.installation is None else self.installation.alias

    @property
    def owner(self) -> str:
        """What the caller's own resources record as their owner."""
        return BOT_OWNER if self.installation is None else self.installation.alias

    def sees(self, owner: str) -> bool:
        """Whether the caller may see a resource of its bot whose recorded owner is `owner` (an
        installation's alias, or BOT_OWNER): a bot sees everything of its own, an integration
        only what its installation owns."""
        return self.installation is None or owner == self.installation.alias
