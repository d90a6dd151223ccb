"""Admin API bodies and answers: bots, integrations and their API keys."""

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, UnsetType

from parley.service.models import Body, Name, Resource, TagValue

Title = Annotated[str, Meta(max_length=64)]
Description = Annotated[str, Meta(max_length=256)]
Attribute = Annotated[str, Meta(max_length=200)]


class TagDefinition(Body):
    title: Title | None = None
    description: Description | None = None


class TagSection(Body):
    tags: dict[str, TagDefinition] = {}


class TagSectionUpdate(Body):
    tags: dict[str, TagDefinition | None] = {}


class StateDefinition(Body):
    type: Literal["conversation", "user", "bot", "task", "workflow"]
    schema: dict[str, Any]
    expiry: Annotated[float, Meta(ge=1)] | None = None


class EventDefinition(Body):
    schema: dict[str, Any]
    title: Title | None = None
    description: Description | None = None
    attributes: dict[str, Attribute] | None = None


class ActionSchema(Body):
    schema: dict[str, Any]


class ActionDefinition(Body):
    input: ActionSchema
    output: ActionSchema
    title: Title | None = None
    description: Description | None = None
    billable: bool | None = None
    cacheable: bool | None = None
    attributes: dict[str, Attribute] | None = None


class Subscriptions(Body):
    events: dict[str, dict[str, Any] | None] | None


class CreateBot(Body):
    name: Annotated[str, Meta(min_length=1)] | None = None
    description: Annotated[str, Meta(max_length=2000)] | None = None
    url: str | None = None
    dev: bool = False
    code: str | None = None
    medias: list[dict[str, Any]] | None = None
    tags: dict[str, TagValue] | None = None
    configuration: dict[str, Any] | None = None
    user: TagSection | None = None
    conversation: TagSection | None = None
    message: TagSection | None = None
    states: dict[str, StateDefinition] | None = None
    events: dict[str, EventDefinition] | None = None
    actions: dict[str, ActionDefinition] | None = None
    recurring_events: dict[str, dict[str, Any]] | None = None
    subscriptions: Subscriptions | None = None


class InstallationUpdate(Body):
    enabled: bool | None = None
    integration_id: str | None = None
    configuration_type: str | None = None
    configuration: dict[str, Any] | None = None
    disabled_channels: list[str] | None = None


class UpdateBot(Body):
    name: Annotated[str, Meta(min_length=1)] | None = None
    description: Annotated[str, Meta(max_length=2000)] | None = None
    url: str | UnsetType | None = UNSET
    code: str | None = None
    medias: list[dict[str, Any]] | None = None
    tags: dict[str, TagValue] | None = None
    configuration: dict[str, Any] | None = None
    user: TagSectionUpdate | None = None
    conversation: TagSectionUpdate | None = None
    message: TagSectionUpdate | None = None
    states: dict[str, StateDefinition | None] | None = None
    events: dict[str, EventDefinition | None] | None = None
    actions: dict[str, ActionDefinition | None] | None = None
    recurring_events: dict[str, dict[str, Any] | None] | None = None
    subscriptions: Subscriptions | None = None
    integrations: dict[str, InstallationUpdate | None] | None = None
    plugins: dict[str, dict[str, Any] | None] | None = None
    authentication: Literal["iam"] | None = None
    blocked: bool | None = None
    max_execution_time: int | None = None
    always_alive: bool | None = None
    layers: list[str] | None = None
    should_merge_plugins: bool | None = None


class MessageDefinition(Body):
    schema: dict[str, Any]


class Creation(Body):
    enabled: bool
    required_tags: list[str]


class ChannelConversation(Body):
    creation: Creation | None = None
    tags: dict[str, TagDefinition] = {}


class ChannelDefinition(Body):
    messages: dict[str, MessageDefinition]
    title: Title | None = None
    description: Description | None = None
    conversation: ChannelConversation | None = None
    message: TagSection | None = None


class IntegrationUser(Body):
    creation: Creation | None = None
    tags: dict[str, TagDefinition] = {}


class IntegrationState(Body):
    type: Literal["conversation", "user", "integration"]
    schema: dict[str, Any]


class IntegrationFields(Body):
    """Fields that integration creation and update share."""

    configuration: dict[str, Any] | None = None
    configurations: dict[str, dict[str, Any] | None] | None = None
    identifier: dict[str, Any] | None = None
    extra_operations: dict[str, dict[str, Any]] | None = None
    sdk_version: Name | None = None
    user: IntegrationUser | None = None
    entities: dict[str, dict[str, Any] | None] | None = None
    interfaces: dict[str, dict[str, Any] | None] | None = None
    attributes: dict[str, Attribute | None] | None = None
    secrets: dict[str, Annotated[str, Meta(max_length=20000)] | None] | None = None
    code: str | None = None
    icon: str | None = None
    readme: str | None = None
    title: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    description: Description | None = None
    public: bool | None = None
    visibility: Literal["public", "private", "unlisted"] | None = None
    layers: list[str] | None = None
    max_execution_time: int | None = None


class CreateIntegration(IntegrationFields, kw_only=True):
    name: Name
    version: Name
    url: str | None = None
    dev: bool = False
    channels: dict[str, ChannelDefinition] | None = None
    states: dict[str, IntegrationState] | None = None
    events: dict[str, EventDefinition] | None = None
    actions: dict[str, ActionDefinition] | None = None


class UpdateIntegration(IntegrationFields, kw_only=True):
    url: str | UnsetType | None = UNSET
    channels: dict[str, ChannelDefinition | None] | None = None
    states: dict[str, IntegrationState | None] | None = None
    events: dict[str, EventDefinition | None] | None = None
    actions: dict[str, ActionDefinition | None] | None = None


class CreateBotApiKey(Body):
    bot_id: str
    note: str | None = None


class CreateIntegrationApiKey(Body):
    integration_id: str
    note: str | None = None


# Answers. A field without a default is always written, null included, as the Admin API's
# clients read it; a field whose default is UNSET is written only when the stored definition
# has it.


class BotSummary(Resource):
    """A bot as `listBots` lists it."""

    id: str
    created_at: str
    updated_at: str
    name: str
    tags: dict[str, Any]


class IntegrationSummary(Resource):
    """An integration as `listIntegrations` lists it; the start of every other view of one."""

    id: str
    name: str
    version: str
    created_at: str
    updated_at: str
    title: str
    description: str
    icon_url: str
    public: bool
    visibility: str
    verification_status: str
    lifecycle_status: str


class InstalledIntegration(IntegrationSummary):
    """An entry of a bot's `integrations`: the integration and how the bot installed it."""

    enabled: bool
    webhook_url: str
    webhook_id: str
    configuration_type: str | None
    configuration: dict[str, Any]
    status: str
    status_reason: str | None
    disabled_channels: list[str]


class Bot(Resource):
    """The Bot object of the Admin API."""

    id: str
    created_at: str
    updated_at: str
    signing_secret: str
    integrations: dict[str, InstalledIntegration]
    plugins: dict[str, Any]
    user: dict[str, Any]
    conversation: dict[str, Any]
    message: dict[str, Any]
    states: dict[str, Any]
    configuration: dict[str, Any]
    events: dict[str, Any]
    recurring_events: dict[str, Any]
    subscriptions: dict[str, Any]
    actions: dict[str, Any]
    tags: dict[str, Any]
    name: str
    dev: bool
    always_alive: bool
    status: str
    medias: list[Any]
    url: str | None = None
    description: str | UnsetType = UNSET
    max_execution_time: int | UnsetType = UNSET


class Tags(Resource):
    tags: dict[str, Any]


class TagsAndCreation(Tags):
    """Tags and the rule for creating the resource (a channel's conversations, the users)."""

    creation: dict[str, Any]


class Channel(Resource, kw_only=True):
    title: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    messages: dict[str, Any]
    conversation: TagsAndCreation
    message: Tags


class Integration(IntegrationSummary):
    """The Integration object of the Admin API."""

    identifier: dict[str, Any]
    url: str
    interfaces: dict[str, Any]
    configuration: dict[str, Any]
    configurations: dict[str, Any]
    channels: dict[str, Channel]
    states: dict[str, Any]
    events: dict[str, Any]
    actions: dict[str, Any]
    user: TagsAndCreation
    entities: dict[str, Any]
    dev: bool
    readme_url: str
    secrets: list[str]
    attributes: dict[str, Any] | UnsetType = UNSET
    max_execution_time: int | UnsetType = UNSET


class ApiKey(Resource):
    """A bot or integration API key as listed: its value is shown only when it is made."""

    id: str
    created_at: str
    note: str


class NewApiKey(ApiKey):
    value: str
