"""The provider seam: every registered channel type has one provider with a credential schema, reached only through
the registry; an unknown type is refused at the API and by the registry."""

from __future__ import annotations

import inspect
import typing

import pytest
from pydantic import ValidationError

from services.channels.config import ChannelsSettings
from services.channels.configs.schemas import ChannelCreate, validate_credentials
from services.channels.providers.base import ChannelProvider, CredentialSchema
from services.channels.providers.registry import (
    BY_WEBHOOK_PATH,
    PROVIDERS,
    ChannelType,
    Providers,
    UnknownChannelType,
    provider_class,
)

_METHODS = [
    name for name, member in vars(ChannelProvider).items() if inspect.isfunction(member) and not name.startswith("_")
]


def test_the_interface_is_what_the_docs_say():
    assert {"read", "authentic", "messages", "answer", "send", "fetch_media", "register_webhook"} <= set(_METHODS)


@pytest.mark.parametrize("kind", sorted(PROVIDERS))
def test_every_registered_type_has_a_complete_provider(kind):
    cls = PROVIDERS[kind]
    assert cls.type == kind
    assert isinstance(cls.credentials, CredentialSchema)
    assert cls.credentials.fields or not cls.webhook_path  # only a provider without a webhook (web) takes none
    assert not set(cls.credentials.generated) & set(cls.credentials.fields)
    assert cls.max_chars > 0 and cls.forbidden and cls.webhook_summary
    if cls.webhook_path:  # the web widget has none
        reader = BY_WEBHOOK_PATH[cls.webhook_path]  # a family sharing a path reads its webhooks one way
        for name in ("read", "verifier", "authentic", "messages", "statuses", "answer", "subscription"):
            assert getattr(cls, name) is getattr(reader, name), f"{cls.__name__}.{name} differs on its shared path"
    for name in [*_METHODS, "from_settings"]:
        method = getattr(cls, name, None)
        assert callable(method), f"{cls.__name__} lacks {name}"
        want = inspect.iscoroutinefunction(getattr(ChannelProvider, name, None))
        assert inspect.iscoroutinefunction(method) == want, f"{cls.__name__}.{name}: async as in the interface"


def test_a_webhook_path_is_one_provider_family():
    assert set(BY_WEBHOOK_PATH) == {cls.webhook_path for cls in PROVIDERS.values() if cls.webhook_path}
    assert [p for p in PROVIDERS.values() if p.webhook_path == "meta"] == [
        PROVIDERS["whatsapp_cloud"], PROVIDERS["instagram"], PROVIDERS["messenger"],
    ]  # fmt: skip


def test_the_api_enum_is_the_registry():
    assert set(typing.get_args(ChannelType)) == set(PROVIDERS)


@pytest.mark.parametrize("kind", ["sms", "whatsapp", "", "TELEGRAM"])
def test_an_unknown_type_is_refused(kind):
    with pytest.raises(ValidationError):
        ChannelCreate(type=kind, name="x", credentials={"bot_token": "123456:" + "a" * 30})
    with pytest.raises(UnknownChannelType):
        provider_class(kind)
    providers = Providers(ChannelsSettings(_env_file=None))
    with pytest.raises(UnknownChannelType):
        providers[kind]


async def test_built_providers_cover_the_registry_and_close():
    providers = Providers(ChannelsSettings(_env_file=None))
    assert sorted(p.type for p in providers) == sorted(PROVIDERS)
    await providers.aclose()


@pytest.mark.parametrize("kind", sorted(k for k, p in PROVIDERS.items() if p.credentials.fields))
def test_the_credential_schema_is_what_create_validates(kind):
    schema = PROVIDERS[kind].credentials
    with pytest.raises(ValueError, match="missing credential"):
        validate_credentials(kind, {})
    with pytest.raises(ValueError, match="unknown credential"):
        validate_credentials(kind, {"nope": "x"}, partial=True)
    with pytest.raises(ValueError, match="at most 300"):
        validate_credentials(kind, {schema.fields[0]: "x" * 301}, partial=True)
    for field, (_, message) in schema.formats.items():
        with pytest.raises(ValueError) as refused:
            validate_credentials(kind, {field: "not-a-valid-value"}, partial=True)
        assert str(refused.value) == message
    assert set(schema.generate()) == {*schema.generated, *schema.shown}


@pytest.mark.parametrize("kind", sorted(k for k, p in PROVIDERS.items() if not p.credentials.fields))
def test_a_type_without_credentials_takes_none(kind):
    assert validate_credentials(kind, {}) == {}
    with pytest.raises(ValueError, match="unknown credential"):
        validate_credentials(kind, {"bot_token": "x"})
