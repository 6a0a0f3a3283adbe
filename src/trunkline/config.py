"""The configuration file (TOML): server settings, the simulator, applications and numbers.

The file is validated with pydantic models (the edge) and turned into a frozen
:class:`Config` holding domain :class:`~trunkline.domain.Application` records.
Every problem is a :class:`~trunkline.errors.ConfigError` whose message names the
key at fault, as in ``applications[0].answer_url: must be an http(s) URL``.
Webhook timeouts are milliseconds in the file, as in Vonage's Application API
(spec/VOICE-API.md §9), and seconds in the domain. A documented example is
``trunkline/examples/trunkline.example.toml``.
"""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from trunkline.domain import DEFAULT_TTS, Application, TtsName, Webhook
from trunkline.door.settings import SipSection, SipSettings
from trunkline.errors import ConfigError

if TYPE_CHECKING:
    from trunkline.store import Store

#: Application ids derived from names: ``uuid5(APPLICATION_NAMESPACE, name)``.
APPLICATION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:trunkline:application")

DEFAULT_DATABASE = "sqlite:///var/trunkline.db"

Method = Literal["GET", "POST"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


@dataclass(frozen=True)
class Config:
    """Everything the configuration file decides, with defaults filled in."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    database: str = DEFAULT_DATABASE
    log_level: str = "info"
    sim_enabled: bool = True
    sim_clock: Literal["real", "virtual"] = "real"
    applications: tuple[Application, ...] = ()
    numbers: tuple[tuple[str, str], ...] = ()  # (number, application id)
    #: the account's API key and secret (basic auth for /v2/applications and numbers)
    api_key: str | None = None
    api_secret: str | None = None
    #: serve the API over TLS with this certificate chain and key (PEM files)
    tls_cert: str | None = None
    tls_key: str | None = None
    #: webhook delivery: "durable" (retry with backoff up to the horizon) or "vonage"
    webhook_mode: Literal["durable", "vonage"] = "durable"
    webhook_horizon: float = 3600.0  # seconds
    #: refuse private and loopback addresses too (multi-tenant hosting)
    strict_urls: bool = False
    #: signs webhooks (HS256) for applications with signed_callbacks, when set
    signature_secret: str | None = None
    #: where recordings are kept ([files] dir); None: files/ beside the SQLite database
    files_dir: str | None = None
    #: SIP trunks, softphone users and where SIP listens ([sip]; off by default)
    sip: SipSettings = field(default_factory=SipSettings)


def load_config(path: str | Path | None) -> Config:
    """Read and check the TOML file at ``path``; None gives every default and no apps."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(data, source=str(path))


def parse_config(data: Mapping[str, Any], *, source: str = "config") -> Config:
    """Check configuration already read into a dict (as ``tomllib`` gives it)."""
    try:
        model = _File.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, data, source)) from None
    issues: list[str] = []
    config = _build(model, issues)
    if issues:
        raise ConfigError("\n".join(f"{source}: {issue}" for issue in issues))
    return config


def apply_config(config: Config, store: Store) -> None:
    """Put the configured applications into ``store`` and link their numbers.

    Idempotent. Applications and numbers that are not in the configuration are
    left alone; a configured number is linked to its configured application even
    if it was linked elsewhere before.
    """
    for app in config.applications:
        store.put_application(app)
    for number, app_id in config.numbers:
        store.link_number(number, app_id)


def application_id_for(name: str) -> str:
    """The stable id of an application configured without one."""
    return str(uuid.uuid5(APPLICATION_NAMESPACE, name))


# -- the file, as pydantic models ---------------------------------------------------


class _Model(BaseModel):
    # strict: TOML has real types, so "8080" for a port or "yes" for a bool is a mistake
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _public_url(value: str) -> str:
    return _http_url(value).rstrip("/") if value else value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PydanticCustomError("url", "must be an http(s) URL")
    return value


def _e164(value: str) -> str:
    digits = value.removeprefix("+")
    if not (digits.isascii() and digits.isdigit() and 1 <= len(digits) <= 15):
        raise PydanticCustomError("number", "must be an E.164 number (up to 15 digits)")
    return digits


HttpUrl = Annotated[str, AfterValidator(_http_url)]
HttpMethod = Annotated[Method, BeforeValidator(_upper)]
ConnectTimeout = Annotated[
    int,
    Field(ge=300, le=1000, validation_alias=AliasChoices("connect_timeout", "connection_timeout")),
]


def _address_only(value: Any) -> Any:
    """A webhook may be written as its address alone; "" means no webhook."""
    if isinstance(value, str):
        return {"address": value} if value else None
    if value is None or isinstance(value, dict):
        return value
    raise PydanticCustomError("webhook", "must be a URL string or a table with an address")


class _AnswerHook(_Model):
    """``answer_url`` or ``fallback_answer_url`` as a table (timeouts in ms, spec §9)."""

    address: HttpUrl
    http_method: HttpMethod = "GET"
    connect_timeout: ConnectTimeout = 1000
    socket_timeout: int = Field(5000, ge=1000, le=5000)


class _EventHook(_Model):
    """``event_url`` as a table (timeouts in ms, spec §9)."""

    address: HttpUrl
    http_method: HttpMethod = "POST"
    connect_timeout: ConnectTimeout = 1000
    socket_timeout: int = Field(10000, ge=1000, le=10000)


AnswerHook = Annotated[_AnswerHook | None, BeforeValidator(_address_only)]
EventHook = Annotated[_EventHook | None, BeforeValidator(_address_only)]


class _Server(_Model):
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(8080, ge=0, le=65535)  # 0: any free port
    public_url: Annotated[str, AfterValidator(_public_url)] = ""  # "": http://{host}:{port}
    database: str = Field(DEFAULT_DATABASE, min_length=1)
    log_level: Annotated[LogLevel, BeforeValidator(_lower)] = "info"
    tls_cert: str | None = Field(None, min_length=1)
    tls_key: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _tls_pair(self) -> _Server:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise PydanticCustomError("config", "tls_key: give tls_cert and tls_key together")
        return self


class _Account(_Model):
    """The account credentials the Application and Numbers APIs take (basic auth)."""

    api_key: str = Field(min_length=1, max_length=64)
    api_secret: str = Field(min_length=1, max_length=256)
    #: the secret that signs webhooks (Vonage's "signature secret"); optional
    signature_secret: str | None = Field(None, min_length=16, max_length=256)


class _Webhooks(_Model):
    """How events are delivered (issue 4): durable by default, or Vonage's bounded retries."""

    mode: Literal["durable", "vonage"] = "durable"
    horizon: int = Field(3600, ge=60, le=7 * 86400)  # seconds an event is retried for
    strict_urls: bool = False


class _Files(_Model):
    """Where recordings are written (``GET /v1/files/{id}`` serves them)."""

    dir: str | None = Field(None, min_length=1)


class _Sim(_Model):
    enabled: bool = True
    clock: Literal["real", "virtual"] = "real"


class _Application(_Model):
    id: str | None = None
    name: str = Field(min_length=1)
    answer_url: AnswerHook = None
    answer_method: HttpMethod | None = None
    event_url: EventHook = None
    event_method: HttpMethod | None = None
    fallback_answer_url: AnswerHook = None
    fallback_answer_method: HttpMethod | None = None
    numbers: list[Annotated[str, AfterValidator(_e164)]] = Field(default_factory=list)
    public_key: str | None = Field(None, min_length=1)  # PEM text, for REST JWTs
    public_key_file: str | None = Field(None, min_length=1)  # or a path to the PEM file
    call_rate_limit: float | None = Field(None, gt=0)  # REST call creations per second
    tts: TtsName = DEFAULT_TTS  # the TTS engine of its talk actions ("espeak" or "piper")

    @field_validator("id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise PydanticCustomError("uuid", "must be a uuid") from None

    @model_validator(mode="after")
    def _shorthands(self) -> _Application:
        """``answer_method`` sets the method of a webhook whose table does not."""
        for key in ("answer", "event", "fallback_answer"):
            hook = getattr(self, f"{key}_url")
            if getattr(self, f"{key}_method") is None:
                continue
            if hook is None:
                raise PydanticCustomError("config", "{key}_method: needs {key}_url", {"key": key})
            if "http_method" in hook.model_fields_set:
                raise PydanticCustomError(
                    "config",
                    "{key}_method: {key}_url.http_method is set too; keep one of them",
                    {"key": key},
                )
        return self

    def hook(self, key: str) -> Webhook | None:
        """The domain webhook for ``answer``, ``event`` or ``fallback_answer`` (seconds)."""
        hook: _AnswerHook | _EventHook | None = getattr(self, f"{key}_url")
        if hook is None:
            return None
        method: str | None = getattr(self, f"{key}_method")
        return Webhook(
            address=hook.address,
            http_method=method or hook.http_method,
            connect_timeout=hook.connect_timeout / 1000,
            socket_timeout=hook.socket_timeout / 1000,
        )


class _File(_Model):
    server: _Server = Field(default_factory=_Server)
    account: _Account | None = None
    sim: _Sim = Field(default_factory=_Sim)
    webhooks: _Webhooks = Field(default_factory=_Webhooks)
    files: _Files = Field(default_factory=_Files)
    sip: SipSection = Field(default_factory=SipSection)
    applications: list[_Application] = Field(default_factory=list)


# -- from the models to the domain ---------------------------------------------------


def _build(model: _File, issues: list[str]) -> Config:
    server = model.server
    public_url = server.public_url or f"http://{_host_for_url(server.host)}:{server.port}"
    apps: list[Application] = []
    numbers: list[tuple[str, str]] = []
    seen_ids: dict[str, int] = {}
    seen_numbers: dict[str, int] = {}
    for i, entry in enumerate(model.applications):
        app_id = entry.id or application_id_for(entry.name)
        if app_id in seen_ids:
            key = "id" if entry.id else "name"
            issues.append(
                f"applications[{i}].{key}: gives the same application id as "
                f"applications[{seen_ids[app_id]}] ({app_id})"
            )
        seen_ids.setdefault(app_id, i)
        for j, number in enumerate(entry.numbers):
            if number in seen_numbers:
                issues.append(
                    f"applications[{i}].numbers[{j}]: {number} is already linked to "
                    f"applications[{seen_numbers[number]}]"
                )
                continue
            seen_numbers[number] = i
            numbers.append((number, app_id))
        apps.append(
            Application(
                id=app_id,
                name=entry.name,
                answer_url=entry.hook("answer"),
                event_url=entry.hook("event"),
                fallback_answer_url=entry.hook("fallback_answer"),
                public_key=_public_key(entry, i, issues),
                call_rate_limit=entry.call_rate_limit,
                tts=entry.tts,
            )
        )
    if model.sip.enabled and model.sim.clock == "virtual":
        issues.append('sip.enabled: real SIP calls need the real clock ([sim] clock = "real")')
    by_name = {app.name: app.id for app in apps} | {app.id: app.id for app in apps}
    user_apps: dict[str, str] = {}
    for i, user in enumerate(model.sip.users):
        owner = by_name.get(user.application)
        if owner is None:
            issues.append(f"sip.users[{i}].application: no application named {user.application!r}")
        else:
            user_apps[user.username] = owner
    return Config(
        host=server.host,
        port=server.port,
        public_url=public_url,
        database=server.database,
        log_level=server.log_level,
        sim_enabled=model.sim.enabled,
        sim_clock=model.sim.clock,
        applications=tuple(apps),
        numbers=tuple(numbers),
        api_key=model.account.api_key if model.account else None,
        api_secret=model.account.api_secret if model.account else None,
        tls_cert=server.tls_cert,
        tls_key=server.tls_key,
        webhook_mode=model.webhooks.mode,
        webhook_horizon=float(model.webhooks.horizon),
        strict_urls=model.webhooks.strict_urls,
        signature_secret=model.account.signature_secret if model.account else None,
        files_dir=model.files.dir,
        sip=model.sip.build(user_apps),
    )


def _public_key(entry: _Application, i: int, issues: list[str]) -> str | None:
    """The PEM text of ``public_key`` or ``public_key_file`` (one of them at most)."""
    where = f"applications[{i}]"
    if entry.public_key is not None and entry.public_key_file is not None:
        issues.append(f"{where}.public_key_file: public_key is set too; keep one of them")
        return None
    pem = entry.public_key
    if entry.public_key_file is not None:
        try:
            pem = Path(entry.public_key_file).read_text()
        except OSError as exc:
            issues.append(f"{where}.public_key_file: cannot read: {exc.strerror or exc}")
            return None
    if pem is not None and "-----BEGIN PUBLIC KEY-----" not in pem:
        issues.append(f"{where}.public_key: must be a PEM public key (BEGIN PUBLIC KEY)")
        return None
    return pem


def _host_for_url(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


# -- error messages that name the key ------------------------------------------------

_MESSAGES = {
    "missing": "required",
    "extra_forbidden": "unknown key",
}


def _describe(exc: ValidationError, data: Mapping[str, Any], source: str) -> str:
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        loc = _user_path(err["loc"], data)
        message = _MESSAGES.get(err["type"], err["msg"])
        if err["type"] == "config":
            # raised on a whole table: the message starts with the key at fault
            key, _, message = message.partition(": ")
            loc = f"{loc}.{key}" if loc else key
        line = f"{source}: {loc}: {message}" if loc else f"{source}: {message}"
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)


def _user_path(loc: Sequence[int | str], data: Any) -> str:
    """The dotted key path the user wrote, cut where their value stopped being a table.

    A webhook written as a string is validated as a table, so pydantic's location
    goes on past it (``answer_url.address``); the user only knows ``answer_url``.
    """
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            if not parts or not isinstance(node, list):
                break
            parts[-1] += f"[{item}]"
            node = node[item] if 0 <= item < len(node) else None
        else:
            if not isinstance(node, Mapping):
                break
            parts.append(item)
            node = node.get(item)
    return ".".join(parts)
