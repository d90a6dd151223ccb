"""Request bodies and resources in the contract's shapes (camelCase on the wire)."""

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Raw, Struct, UnsetType

Id = Annotated[str, Meta(min_length=28, max_length=36)]
Name = Annotated[str, Meta(max_length=200)]
TagValue = Annotated[str, Meta(max_length=500)]
TagChanges = dict[str, TagValue | None]
Discriminator = list[Annotated[str, Meta(max_length=500)]]
PictureUrl = Annotated[str, Meta(max_length=40000)]


class Body(Struct, rename="camel", forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """A request body: unknown fields are rejected, as the contract's schemas say."""


class Resource(Struct, rename="camel", omit_defaults=True, kw_only=True):
    """A resource in a response; optional fields are left out when they have no value."""


class CreateUser(Body):
    tags: TagChanges
    name: Name | None = None
    picture_url: PictureUrl | None = None
    integration_name: Name | None = None


class GetOrCreateUser(CreateUser):
    discriminate_by_tags: Discriminator | None = None


class UpdateUser(Body):
    tags: TagChanges | None = None
    name: Name | UnsetType | None = UNSET
    picture_url: PictureUrl | UnsetType | None = UNSET


class User(Resource):
    id: str
    created_at: str
    updated_at: str
    tags: dict[str, str]
    name: str | None = None
    picture_url: str | None = None


class CreateConversation(Body):
    channel: Name
    tags: TagChanges
    integration_name: Name | None = None


class GetOrCreateConversation(CreateConversation):
    discriminate_by_tags: Discriminator | None = None


class UpdateConversation(Body):
    tags: TagChanges | None = None
    current_task_id: Id | UnsetType | None = UNSET


class Conversation(Resource):
    id: str
    created_at: str
    updated_at: str
    channel: str
    integration: str
    tags: dict[str, str]
    current_task_id: str | None = None
    current_workflow_id: str | None = None


class AddParticipant(Body):
    user_id: Id


class Schedule(Body):
    date_time: Annotated[str, Meta(min_length=24, max_length=28)] | None = None
    delay: float | None = None


class CreateMessage(Body):
    payload: dict[str, Any]
    user_id: Id
    conversation_id: Id
    type: Name
    tags: TagChanges
    schedule: Schedule | None = None
    origin: Literal["synthetic"] | None = None


class GetOrCreateMessage(Body):
    user_id: Id
    conversation_id: Id
    type: Name
    tags: TagChanges
    payload: dict[str, Any] | None = None
    schedule: Schedule | None = None
    origin: Literal["synthetic"] | None = None
    discriminate_by_tags: Discriminator | None = None


class UpdateMessage(Body):
    tags: TagChanges | None = None
    payload: dict[str, Any] | None = None


class Message(Resource):
    id: str
    created_at: str
    updated_at: str
    type: str
    payload: Raw
    direction: str
    user_id: str
    conversation_id: str
    tags: dict[str, str]
    origin: str | None = None


def encode_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def decode_tags(text: str) -> dict[str, str]:
    return msgspec.json.decode(text, type=dict[str, str])


class CreateEvent(Body):
    type: Name
    payload: dict[str, Any]
    schedule: Schedule | None = None
    conversation_id: Id | None = None
    user_id: Id | None = None
    workflow_id: Id | None = None
    message_id: Id | None = None


class Event(Resource):
    id: str
    created_at: str
    type: str
    payload: Raw
    status: str
    failure_reason: str | None
    conversation_id: str | None = None
    user_id: str | None = None
    message_id: str | None = None


Expiry = Annotated[float, Meta(ge=1, le=2_592_000_000)]


class SetState(Body):
    payload: dict[str, Any] | None
    expiry: Expiry | UnsetType | None = UNSET


class PatchState(Body):
    payload: dict[str, Any]
    expiry: Expiry | UnsetType | None = UNSET


class GetOrSetState(Body):
    payload: dict[str, Any]
    expiry: Expiry | UnsetType | None = UNSET


class SetStateExpiry(Body):
    expiry: Expiry | None


class State(Resource):
    id: str
    created_at: str
    updated_at: str
    bot_id: str
    name: str
    type: str
    payload: Raw
    conversation_id: str | None = None
    user_id: str | None = None
    expiry: int | None = None
    expires_at: str | None = None


TaskStatus = Literal["pending", "in_progress", "failed", "completed", "blocked", "paused", "timeout", "cancelled"]
DateTime = Annotated[str, Meta(max_length=40)]


class CreateTask(Body):
    type: Name
    conversation_id: Id
    title: Annotated[str, Meta(max_length=2000)] | None = None
    description: Annotated[str, Meta(max_length=20000)] | None = None
    data: dict[str, Any] | None = None
    parent_task_id: Id | None = None
    user_id: Id | None = None
    timeout_at: DateTime | None = None
    tags: TagChanges | None = None


class UpdateTask(Body):
    title: Annotated[str, Meta(max_length=2000)] | None = None
    description: Annotated[str, Meta(max_length=20000)] | None = None
    data: dict[str, Any] | None = None
    timeout_at: DateTime | None = None
    status: TaskStatus | None = None
    tags: TagChanges | None = None


class Task(Resource):
    id: str
    title: str
    description: str
    type: str
    data: Raw
    status: str
    conversation_id: str
    timeout_at: str
    created_at: str
    updated_at: str
    tags: dict[str, str]
    parent_task_id: str | None = None
    user_id: str | None = None
    failure_reason: str | None = None


# The largest count one report may add: sums stay exact and far from overflowing.
MAX_ANALYTICS_COUNT = 1_000_000_000


class TrackAnalytics(Body):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    count: Annotated[int, Meta(ge=1, le=MAX_ANALYTICS_COUNT)]


class ConfigureIntegration(Body):
    identifier: Annotated[str, Meta(max_length=200)] | UnsetType | None = UNSET
    schedule_register_call: (
        Literal["hourly", "daily", "weekly", "bi-weekly", "monthly", "bi-monthly", "quarterly", "yearly"] | None
    ) = None
    sandbox_identifiers: dict[str, Any] | UnsetType | None = UNSET


class CallAction(Body):
    type: Name
    input: dict[str, Any]


WorkflowStartStatus = Literal["pending", "in_progress", "listening"]
WorkflowUpdateStatus = Literal["completed", "cancelled", "listening", "paused", "failed", "in_progress"]
WorkflowTime = Annotated[str, Meta(max_length=40)]


class CreateWorkflow(Body):
    name: Name
    status: WorkflowStartStatus
    input: dict[str, Any] | None = None
    parent_workflow_id: Id | None = None
    conversation_id: Id | None = None
    user_id: Id | None = None
    timeout_at: WorkflowTime | None = None
    tags: TagChanges | None = None
    event_id: Id | None = None


class GetOrCreateWorkflow(CreateWorkflow):
    discriminate_by_tags: Discriminator | None = None
    discriminate_by_status_group: Literal["active", "finished"] | None = None


class UpdateWorkflow(Body):
    output: dict[str, Any] | None = None
    timeout_at: WorkflowTime | None = None
    status: WorkflowUpdateStatus | None = None
    failure_reason: Annotated[str, Meta(max_length=2000)] | None = None
    tags: TagChanges | None = None
    user_id: Id | None = None
    event_id: Id | None = None


class Workflow(Resource):
    id: str
    name: str
    status: str
    input: Raw
    output: Raw
    created_at: str
    updated_at: str
    timeout_at: str
    tags: dict[str, str]
    parent_workflow_id: str | None = None
    conversation_id: str | None = None
    user_id: str | None = None
    completed_at: str | None = None
    failure_reason: str | None = None


class ImportedMessage(Body):
    payload: dict[str, Any]
    user_id: Id
    conversation_id: Id
    type: Name
    tags: TagChanges
    created_at: Annotated[str, Meta(max_length=40)]
    discriminate_by_tags: Discriminator


class ImportMessages(Body):
    messages: Annotated[list[ImportedMessage], Meta(max_length=100)]


class IncomingUser(Body):
    tags: TagChanges
    discriminate_by_tags: Discriminator
    name: Name | None = None
    picture_url: PictureUrl | None = None
    integration_name: Name | None = None


class IncomingConversation(Body):
    channel: Name
    tags: TagChanges
    discriminate_by_tags: Discriminator
    integration_name: Name | None = None


class IncomingMessage(Body):
    payload: dict[str, Any]
    type: Name
    tags: TagChanges
    discriminate_by_tags: Discriminator
    origin: Literal["synthetic"] | None = None


class InitializeIncomingMessage(Body):
    user_id: Id | None = None
    user: IncomingUser | None = None
    conversation_id: Id | None = None
    conversation: IncomingConversation | None = None
    message: IncomingMessage | None = None
