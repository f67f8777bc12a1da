"""Settings: one validated model (pydantic-settings), env prefix STEPVOX_, optional TOML file
named by STEPVOX_CONFIG. Bad values and unknown names are refused with `SettingsError`, a
one-line message naming the setting (the CLI exits 2 with it). docs/settings.md is generated
from this class (`stepvox settings --markdown`); a test keeps the two equal.
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import platformdirs
import pydantic_settings
from pydantic import (
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from core.mcp_settings import MCPServer, mcp_server

__all__ = ["MCPServer", "Settings", "SettingsError", "get_settings", "load_settings"]

ENV_PREFIX = "STEPVOX_"
# STEPVOX_* names that are not settings fields but are read on purpose
OTHER_ENV = {"STEPVOX_CONFIG"}


class SettingsError(ValueError):
    """A setting has a bad value or an unknown name. str(e) is one line naming it."""


def _default_home() -> Path:
    return Path(platformdirs.user_data_dir("stepvox", appauthor=False))


_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", allow_inf_nan=False, validate_default=True
    )

    home: Path = Field(
        default_factory=_default_home,
        description="Where conversations (SQLite), their recordings, corpora and the voice library live "
        "(created 0700). Default: the platform's user data directory.",
    )
    policy: str = Field(
        "embedded",
        description="The brain: `embedded`, `step-audio-2`, `remote` or `chat` (default `chat` when `brain_url` is set).",
    )
    model_dir: Path | None = Field(None, description="Step-Audio 2 checkpoint directory (`--model`).")
    remote_url: str | None = Field(
        None, description="OpenAI-compatible Step-Audio 2 server for the `remote` policy (`--remote-url`)."
    )
    remote_model: str = Field("step-audio-2-mini", description="Model name sent to the remote server.")
    remote_api_key: str | None = Field(None, description="Bearer key for the remote server.")
    # chat policy: a chat model behind an OpenAI-compatible server as the brain
    brain_url: str | None = Field(
        None,
        description="OpenAI-compatible chat server (Ollama, llama.cpp, vLLM, ...) the `chat` policy thinks with "
        "(`--brain-url`), e.g. `http://127.0.0.1:11434/v1`; setting it selects the `chat` policy unless "
        "`policy` is set. See docs/brains.md.",
    )
    brain_model: str | None = Field(
        None, description="Model name sent to the brain server (`--brain-model`); unset: the first model it lists."
    )
    brain_api_key: str | None = Field(None, description="Bearer key for the brain server (unset: none is sent).")
    # step-audio-2
    device: str = Field("auto", description="Torch device: `auto`, `cpu`, `cuda`, `cuda:N` or `mps`.")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights' dtype for Step-Audio 2 (`auto`: bfloat16 on CUDA, else float32)."
    )
    max_new_tokens: int | None = Field(None, gt=0, description="Cap on generated tokens per policy step.")
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature (0: greedy).")
    token2wav_dir: Path | None = Field(None, description="token2wav weights directory (default: inside --model).")
    # retrieval
    embedder: str | None = Field(
        None, description="sentence-transformers model name or path for corpora (default: the offline MiniLM)."
    )
    reranker: str | None = Field(None, description="Optional cross-encoder name or path that reranks passages.")
    max_input_seconds: float = Field(
        120.0, gt=0, le=3600, description="Longest input audio accepted, in seconds (enforced while decoding)."
    )
    # embedded policy
    route_threshold: float = Field(0.55, ge=0, le=1, description="Min similarity to route a question to a tool.")
    answer_threshold: float = Field(
        0.35, ge=0, le=1, description="Min passage relevance for an extractive answer."
    )
    tool_timeout_s: float = Field(8.0, gt=0, le=600, description="Seconds a tool may run before it is abandoned.")
    # retention
    retention_days: float | None = Field(
        None, gt=0, description="Delete conversations (and their recordings) idle longer than this; unset: keep."
    )
    # conversations
    turn_wait_s: float = Field(
        120.0, gt=0, le=3600,
        description="How long a turn waits for another turn on the same conversation (another process "
        "included) before it is refused.",
    )
    checkpointer: str = Field(
        "sqlite",
        description="Where conversations and long-term memory are kept: `sqlite` (files under home) or a "
        "PostgreSQL URL `postgresql://user@host:5432/db` (see docs/persistence.md).",
    )
    # server
    token: str | None = Field(
        None, min_length=8, description="Token `stepvox serve` requires (prefer this to `--token`, which `ps` shows)."
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names (besides loopback) the server answers to and whose pages may call it, "
        'comma-separated, e.g. `voice.example.org,192.168.1.20`.',
    )
    tools: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="A developer's own tools, comma-separated `module:name` entries imported from the "
        "Python path (a langchain tool, a documented function, or a list of them).",
    )
    approve_tools: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Tools that wait for a person's approval before each call, comma-separated, e.g. "
        "`web_search,get_weather` (answer with `stepvox threads approve|deny ID`).",
    )
    escalate_after: int = Field(
        3, ge=0, le=100,
        description="Hand the conversation to a person after this many unsure answers in a row "
        "(0: never). A user can always ask for a person.",
    )
    max_upload_mb: float = Field(20.0, gt=0, le=1024, description="Largest upload `POST /api/corpus` accepts, in MB.")
    max_sessions: int = Field(16, gt=0, le=1024, description="Most live WebSocket sessions the server holds at once.")
    # tools
    mcp_servers: Annotated[dict[str, MCPServer], NoDecode] = Field(
        default_factory=dict,
        description="MCP servers whose tools the assistant uses: a TOML table per server name "
        "(`[mcp_servers.NAME]` with `command`+`args`+`env` or `url`+`headers`, `approval`, `required`), "
        "or the same as a JSON object in the environment; see docs/mcp.md.",
    )

    @field_validator("mcp_servers", mode="before")
    @classmethod
    def _mcp_servers(cls, v):
        if isinstance(v, str):
            try:
                v = json.loads(v) if v.strip() else {}
            except json.JSONDecodeError as e:
                raise ValueError(f"not valid JSON ({e})") from None
        if not isinstance(v, dict):
            raise ValueError('expected servers by name, e.g. {"orders": {"command": "orders-mcp"}}')
        return {name: mcp_server(name, value) for name, value in v.items()}

    @field_validator("allowed_hosts", "approve_tools", "tools", mode="before")
    @classmethod
    def _hosts(cls, v):
        if isinstance(v, str):
            v = [h.strip() for h in v.split(",") if h.strip()]
        return v

    @field_validator("approve_tools")
    @classmethod
    def _tool_names(cls, v: list[str]) -> list[str]:
        for t in v:
            if not re.match(r"^[A-Za-z0-9_.\-]{1,64}$", t):
                raise ValueError(f"{t[:40]!r} is not a tool name")
        return v

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, v: list[str]) -> list[str]:
        for h in v:
            if not re.match(r"^[A-Za-z0-9.\-\[\]:]+$", h):
                raise ValueError(f"{h!r} is not a host name")
        return [h.lower() for h in v]

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not _DEVICE.match(v):
            raise ValueError("expected auto, cpu, cuda, cuda:N or mps")
        return v

    @field_validator("remote_url", "brain_url")
    @classmethod
    def _remote_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        u = urlsplit(v)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("expected an http:// or https:// URL, e.g. http://127.0.0.1:8000/v1")
        try:
            u.port  # noqa: B018 - raises on a port that is not a number in range
        except ValueError as e:
            raise ValueError(f"bad port ({e})") from None
        return v

    @field_validator("checkpointer")
    @classmethod
    def _checkpointer(cls, v: str) -> str:
        if v == "sqlite":
            return v
        u = urlsplit(v)
        if u.scheme not in ("postgresql", "postgres"):
            raise ValueError("expected `sqlite` or a postgresql:// URL, e.g. postgresql://stepvox@db.example.org/stepvox")
        try:
            u.port  # noqa: B018 - raises on a port that is not a number in range
        except ValueError as e:
            raise ValueError(f"bad port ({e})") from None
        return v

    @field_serializer("checkpointer", when_used="json")
    def _hide_password(self, v: str) -> str:
        return without_password(v)

    @field_validator("policy")
    @classmethod
    def _policy(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        return v

    @field_validator("brain_model")
    @classmethod
    def _brain_model(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty (leave it unset for the first model the server lists)")
        return v

    @model_validator(mode="after")
    def _brain_selects_chat(self) -> Settings:
        if self.brain_url and "policy" not in self.model_fields_set:
            self.policy = "chat"  # a brain server given and no policy named: use it
        return self

    @field_validator("home", mode="before")
    @classmethod
    def _home(cls, v):
        if isinstance(v, str) and not v.strip():
            raise ValueError("must not be empty")
        return Path(v).expanduser() if isinstance(v, (str, Path)) else v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = os.environ.get("STEPVOX_CONFIG")
        if toml:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @property
    def checkpoints_path(self) -> Path:
        return self.home / "conversations.sqlite"

    @property
    def voices_dir(self) -> Path:
        return self.home / "voices"

    @property
    def corpora_dir(self) -> Path:
        return self.home / "corpora"

    @property
    def audio_dir(self) -> Path:
        return self.home / "audio"

    @property
    def uploads_dir(self) -> Path:
        return self.home / "uploads"


def without_password(value: str) -> str:
    """A URL as it may be shown: its password (if any) replaced by `***`."""
    u = urlsplit(value)
    if not u.scheme or "@" not in u.netloc or ":" not in u.netloc.rsplit("@", 1)[0]:
        return value
    user, host = u.netloc.rsplit("@", 1)
    return u._replace(netloc=f"{user.split(':', 1)[0]}:***@{host}").geturl()


def _env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def _one_line(err: ValidationError, where: str) -> str:
    e = err.errors()[0]
    if e["type"] == "extra_forbidden":
        return f"setting {where}: unknown setting (see docs/settings.md)"
    shown = e.get("input")
    if isinstance(shown, str):
        shown = without_password(shown)
    # a table's value is not repeated; MCP servers' may hold secrets (env, headers)
    hidden = isinstance(shown, dict) or e["loc"][:1] == ("mcp_servers",)
    value = "" if hidden else f" = {shown!r}"
    return f"setting {where}{value}: {str(e['msg']).removeprefix('Value error, ')}"


def _check_config_file() -> str | None:
    path = os.environ.get("STEPVOX_CONFIG")
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise SettingsError(f"setting STEPVOX_CONFIG = {path!r}: no such file")
    try:
        import tomllib

        with p.open("rb") as f:
            tomllib.load(f)
    except (OSError, ValueError) as e:
        raise SettingsError(f"setting STEPVOX_CONFIG = {path!r}: not valid TOML ({str(e).splitlines()[0]})") from None
    return path


def load_settings(**overrides) -> Settings:
    """Settings from overrides, the environment and the TOML file; SettingsError when bad."""
    fields = set(Settings.model_fields)
    unknown = sorted(
        k for k in os.environ if k.startswith(ENV_PREFIX) and k not in OTHER_ENV and k[len(ENV_PREFIX):].lower() not in fields
    )
    if unknown:
        raise SettingsError(f"setting {unknown[0]}: unknown setting (see docs/settings.md)")
    toml = _check_config_file()
    try:
        return Settings(**overrides)
    except ValidationError as e:
        first = e.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        if field in overrides:
            where = field
        elif _env_name(field) in os.environ or not toml:
            where = _env_name(field)
        else:
            where = f"{field} in {toml}"
        raise SettingsError(_one_line(e, where)) from None
    except pydantic_settings.SettingsError as e:  # a value the source itself could not parse
        raise SettingsError(f"setting {str(e).splitlines()[0]}") from None


def check_setting(name: str, value: Any, label: str | None = None) -> Any:
    """`value` for the setting `name`, checked (and converted) by the model's own validators: a
    command-line option that overrides a setting goes through this. SettingsError names `label`
    (e.g. "--device"; default the STEPVOX_* name)."""
    inst = Settings.model_construct()
    try:
        Settings.__pydantic_validator__.validate_assignment(inst, name, value)
    except ValidationError as e:
        msg = str(e.errors()[0]["msg"]).removeprefix("Value error, ")
        shown = without_password(value) if isinstance(value, str) else value
        raise SettingsError(f"{label or _env_name(name)} {shown!r}: {msg}") from None
    return getattr(inst, name)


def private_dir(path: Path) -> Path:
    """mkdir -p with mode 0700 on every directory this creates (the user's data is theirs)."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    path.mkdir(parents=True, exist_ok=True)
    for d in missing:
        try:
            os.chmod(d, 0o700)
        except OSError:
            pass
    return path


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    s = load_settings()
    private_dir(s.home)
    return s


def settings_markdown() -> str:
    """docs/settings.md, generated from the model so the two cannot drift."""
    lines = [
        "# Settings",
        "",
        "<!-- generated by `stepvox settings --markdown > docs/settings.md`; do not edit -->",
        "",
        "Every setting is an environment variable `STEPVOX_<NAME>` or a key `<name>` in the TOML",
        "file named by `STEPVOX_CONFIG` (the environment wins). Values are validated when stepvox",
        "starts: a bad value or an unknown `STEPVOX_*` name stops the command with exit 2 and one",
        "line naming the setting.",
        "",
        "| Environment variable | TOML key | Type | Default | Meaning |",
        "|---|---|---|---|---|",
    ]
    for name, f in Settings.model_fields.items():
        ann = f.annotation
        if getattr(ann, "__origin__", None) is Literal:
            typ = " or ".join(f"`{a}`" for a in ann.__args__)
        else:
            typ = getattr(ann, "__name__", None) or str(ann).replace("typing.", "").replace("pathlib.", "")
            typ = typ.replace("|", "or")
        if f.default_factory is not None:
            default = "platform data dir" if name == "home" else repr(f.default_factory())
        else:
            default = "unset" if f.default is None else repr(f.default)
        lims = []
        for m in f.metadata:
            for attr, sym in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
                if getattr(m, attr, None) is not None:
                    lims.append(f"{sym} {getattr(m, attr)}")
        typ = typ + (f" ({', '.join(lims)})" if lims else "")
        lines.append(f"| `{_env_name(name)}` | `{name}` | {typ} | {default} | {f.description or ''} |")
    lines += ["", "`STEPVOX_CONFIG`: path of the optional TOML file.", ""]
    return "\n".join(lines)


