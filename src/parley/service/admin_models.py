"""Admin API bodies: bots, integrations and their API keys."""

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, UnsetType

from parley.service.models import Body, Name, TagValue

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
