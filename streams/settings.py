"""One settings model for every process, rendered to librdkafka and Faust configs.

Environment variables use the prefix ``DISPATCHBUS_`` and ``__`` for nesting,
e.g. ``DISPATCHBUS_KAFKA__BOOTSTRAP_SERVERS=broker:9092`` or
``DISPATCHBUS_SCHEMA_REGISTRY__URL=http://registry:8081``. Nothing else in the
code reads ``os.environ`` for configuration.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsGroup(BaseModel):
    """A group of settings; its validation errors never quote the value given (it may be a secret)."""

    model_config = ConfigDict(hide_input_in_errors=True)


class KafkaSettings(SettingsGroup):
    """How to reach the brokers, and client tuning shared by every process."""

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = Field(default=None, description="CA certificates (PEM) the brokers' must chain to.")
    ssl_certificate_location: Path | None = Field(
        default=None, description="This client's certificate (PEM) for mutual TLS; its CN is the principal."
    )
    ssl_key_location: Path | None = Field(default=None, description="The private key (PEM) of that certificate.")
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = Field(
        default=True,
        description="Check that the broker's certificate names the host connected to; production refuses false.",
    )
    client_id: str = "dispatchbus"
    session_timeout_s: float = Field(
        default=10.0, gt=0, description="Consumer group session timeout; joins wait about half of it on tansu."
    )
    heartbeat_interval_s: float = Field(default=1.0, gt=0)
    fetch_max_wait_ms: int = Field(
        default=500,
        ge=1,
        description="Longest a fetch may wait for data; use ~10 ms on the embedded broker, "
        "which always waits about half of it.",
    )
    linger_ms: int = Field(default=5, ge=0)
    verify_end_offsets: bool = Field(
        default=False,
        description="Check partition end offsets by reading the last batch before table recovery; "
        "needed on the embedded broker, which reports them wrongly after multi-record batches.",
    )
    replication_factor: int = Field(default=1, ge=1, description="For topics created from the catalogue.")

    @model_validator(mode="after")
    def _consistent_security(self) -> KafkaSettings:
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and not (self.sasl_mechanism and self.sasl_username and self.sasl_password):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism, sasl_username and sasl_password"
            )
        if not sasl and (self.sasl_mechanism or self.sasl_username or self.sasl_password):
            raise ValueError(f"SASL settings are given but security_protocol is {self.security_protocol}")
        if (self.ssl_certificate_location is None) != (self.ssl_key_location is None):
            raise ValueError("mutual TLS needs both ssl_certificate_location and ssl_key_location")
        tls_files = (self.ssl_ca_location, self.ssl_certificate_location, self.ssl_key_location)
        if not self.uses_tls and any(tls_files):
            raise ValueError(f"TLS files are given but security_protocol is {self.security_protocol}")
        return self

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def production_problems(self) -> list[str]:
        """Why these settings would be unsafe for call data (empty when they are not)."""
        problems = []
        if not self.uses_tls:
            problems.append(
                f"kafka.security_protocol {self.security_protocol} sends call data"
                + (" and passwords" if self.security_protocol == "SASL_PLAINTEXT" else "")
                + " unencrypted: use SASL_SSL or SSL"
            )
        elif not self.ssl_check_hostname:
            problems.append("kafka.ssl_check_hostname is false: any certificate the CA signed would be trusted")
        if self.security_protocol == "SSL" and self.ssl_certificate_location is None:
            problems.append("kafka.security_protocol SSL without a client certificate authenticates nobody")
        return problems

    def common_config(self) -> dict[str, Any]:
        """librdkafka properties every client shares."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            "client.id": self.client_id,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
            conf["sasl.username"] = self.sasl_username or ""
            conf["sasl.password"] = self.sasl_password.get_secret_value() if self.sasl_password else ""
        if self.uses_tls:
            if self.ssl_ca_location:
                conf["ssl.ca.location"] = str(self.ssl_ca_location)
            if self.ssl_certificate_location and self.ssl_key_location:
                conf["ssl.certificate.location"] = str(self.ssl_certificate_location)
                conf["ssl.key.location"] = str(self.ssl_key_location)
                if self.ssl_key_password:
                    conf["ssl.key.password"] = self.ssl_key_password.get_secret_value()
            conf["ssl.endpoint.identification.algorithm"] = "https" if self.ssl_check_hostname else "none"
        return conf

    def ssl_context(self) -> Any:
        """The TLS context of the aiokafka (Faust) clients: the same CA, client certificate and host check."""
        import ssl

        context = ssl.create_default_context(cafile=str(self.ssl_ca_location) if self.ssl_ca_location else None)
        if self.ssl_certificate_location and self.ssl_key_location:
            context.load_cert_chain(
                str(self.ssl_certificate_location), str(self.ssl_key_location),
                self.ssl_key_password.get_secret_value() if self.ssl_key_password else None,
            )
        context.check_hostname = self.ssl_check_hostname
        return context

    def faust_credentials(self) -> Any:
        """The same security settings as Faust (aiokafka) credentials, or None for PLAINTEXT.

        The validator makes a SASL protocol name its mechanism, so both client libraries use the same one.
        """
        import faust

        context = self.ssl_context() if self.uses_tls else None
        if self.sasl_mechanism:
            return faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password.get_secret_value() if self.sasl_password else None,
                mechanism=self.sasl_mechanism,
                ssl_context=context,
            )
        if context is not None:
            return faust.SSLCredentials(context)
        return None

    def producer_config(self) -> dict[str, Any]:
        """librdkafka producer config: idempotent, all replicas acknowledge, never auto-creates a topic."""
        return {
            **self.common_config(),
            "enable.idempotence": True,
            "allow.auto.create.topics": False,  # librdkafka's producers default to asking for it
            # The Java client's partitioner (also aiokafka's, so Faust's): a call's events
            # land on the same partition number whoever produced them.
            "partitioner": "murmur2_random",
            "acks": "all",
            "linger.ms": self.linger_ms,
        }

    def consumer_config(self, group_id: str, *, from_beginning: bool = True) -> dict[str, Any]:
        """librdkafka consumer config; topics are never auto-created by clients."""
        return {
            **self.common_config(),
            "group.id": group_id,
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": False,
            "allow.auto.create.topics": False,
            "session.timeout.ms": int(self.session_timeout_s * 1000),
            "heartbeat.interval.ms": int(self.heartbeat_interval_s * 1000),
            "fetch.wait.max.ms": self.fetch_max_wait_ms,
        }

    def admin_config(self) -> dict[str, Any]:
        """librdkafka admin client config."""
        return self.common_config()


class SchemaRegistrySettings(SettingsGroup):
    """Confluent-compatible Schema Registry; without a URL, ids come from the committed contract."""

    url: str | None = None
    basic_auth_user_info: SecretStr | None = Field(default=None, description="USER:PASSWORD for HTTP basic auth.")
    ssl_ca_location: Path | None = Field(default=None, description="CA certificates (PEM) for an https URL.")
    ssl_certificate_location: Path | None = Field(default=None, description="Client certificate (PEM), mutual TLS.")
    ssl_key_location: Path | None = None

    def production_problems(self) -> list[str]:
        if self.url and not self.url.startswith("https://"):
            return ["schema_registry.url is not https: schemas and credentials would travel unencrypted"]
        return []

    def client_config(self) -> dict[str, Any]:
        """Config for confluent_kafka.schema_registry.SchemaRegistryClient."""
        conf: dict[str, Any] = {"url": self.url}
        if self.basic_auth_user_info:
            conf["basic.auth.user.info"] = self.basic_auth_user_info.get_secret_value()
        for key, value in (("ssl.ca.location", self.ssl_ca_location),
                           ("ssl.certificate.location", self.ssl_certificate_location),
                           ("ssl.key.location", self.ssl_key_location)):
            if value is not None:
                conf[key] = str(value)
        return conf


class TopicSettings(SettingsGroup):
    """Naming and sizing of the catalogue's topics."""

    prefix: str = Field(default="dispatchbus.", description="Prepended to every catalogue topic name.")
    partitions: int | None = Field(default=None, ge=1, description="Override every topic's partition count.")


class WorkerSettings(SettingsGroup):
    """The Faust worker."""

    app_id: str = "dispatchbus"
    web_host: str = Field(
        default="127.0.0.1",
        description="The address the worker's web server binds to (and names itself by); anything but "
        "loopback needs web_tokens.",
    )
    web_port: int = Field(default=6066, ge=0, le=65535)
    web_tokens: SecretStr | None = Field(
        default=None,
        description="Bearer tokens the web server accepts, as comma-separated ROLE:TOKEN pairs; roles are "
        "ops, cad, metrics and psap-<id>. A role may have several tokens (rotation). Unset: the views "
        "answer without a token, which only a loopback web_host allows.",
    )
    web_token: SecretStr | None = Field(
        default=None, description="The bearer token this process presents to a worker's views (CLI, demo)."
    )
    web_metrics_open: bool = Field(
        default=False,
        description="Serve /metrics without a token (a Prometheus on a private network); the other views "
        "still need theirs.",
    )
    data_dir: Path = Path(".run/worker")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    policy_file: Path | None = Field(default=None, description="Routing policy file; reloaded when it changes.")
    policy_model: Literal["911-led", "embedded-professional", "external-hotline"] = Field(
        default="911-led", description="Reference policy to use when no policy file is set."
    )
    timer_interval_s: float = Field(
        default=1.0, gt=0, description="How often handoff deadlines and ended calls' retention are checked."
    )
    ended_retention_s: float = Field(
        default=86_400.0, ge=0,
        description="How long an ended call stays in the calls table (its views, and dropping redelivered "
        "copies of its events) before it is deleted; 0 keeps every call for ever.",
    )
    gc_freeze: bool = Field(
        default=True,
        description="Freeze the heap's survivors after each full garbage collection, so that large "
        "tables do not stall the worker for hundreds of milliseconds; at most every ten minutes one full "
        "collection walks everything again, so cycles dropped meanwhile are freed (docs/benchmark.md, "
        "\"Garbage collection\").",
    )
    busy_switch_interval_s: float = Field(
        default=0.05,
        gt=0,
        le=1.0,
        description="The interpreter lock's switch interval while the worker works through a large fetched "
        "batch (it is behind); CPython's 0.005 s otherwise. At 0.005 s the Kafka consumer's thread took the lock "
        "mid-batch every 5 ms to poll its partitions (docs/benchmark.md, \"The interpreter lock's switch "
        "interval\").",
    )
    busy_output_hold_s: float = Field(
        default=0.1,
        ge=0,
        le=1.0,
        # 1,000 is dispatchbus.runtime.lock_switch.HOLD_BATCH_RECORDS (the spine does not import the runtime;
        # tests/test_settings.py checks that they agree).
        description="While the worker works through a fetched batch of 1,000 records or more (it is "
        "far behind), its outputs are handed to the producer in bursts at most this far apart, and at the batch's "
        "end, instead of one by one: fewer, larger produce requests (docs/benchmark.md, \"Outputs in bursts while "
        "far behind\"). 0: never held. Smaller batches are never held.",
    )
    @field_validator("web_tokens")
    @classmethod
    def _readable_tokens(cls, value: SecretStr | None) -> SecretStr | None:
        from .web_access import parse_tokens

        if value is not None:
            parse_tokens(value.get_secret_value())  # raises TokenError, a ValueError naming no token
        return value

    @model_validator(mode="after")
    def _no_open_views_off_loopback(self) -> WorkerSettings:
        from .web_access import is_loopback

        if not self.web_tokens and not is_loopback(self.web_host):
            raise ValueError(
                f"the worker's web server on {self.web_host} would show calls to anyone who can reach it: "
                "set worker.web_tokens (DISPATCHBUS_WORKER__WEB_TOKENS) or bind it to 127.0.0.1"
            )
        return self

    clock: Literal["wall", "event-time"] = Field(
        default="wall",
        description="What handoff deadlines are compared with: the wall clock (live), or the latest event "
        "time seen (simulations and replays whose event times run faster than real time).",
    )


PSAP_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""PSAP ids that may name a topic (no dots, so ``feedback.psap.<id>.`` never matches another PSAP)."""


class FeedbackSettings(SettingsGroup):
    """Outcome feedback to call centers and its digests."""

    psaps: str = Field(
        default="",
        description="Comma-separated PSAP ids that get their own feedback topics "
        "(feedback.psap.<id>.outcomes and .digests, readable by that PSAP alone).",
    )
    timezone: str = Field(default="UTC", description="Local time of the digests' days; weeks start on Monday.")
    retention_days: int = Field(
        default=35, ge=8, description="Digest windows older than this (in event time) are dropped, and "
        "outcomes of calls received before them are no longer counted.",
    )

    @field_validator("psaps")
    @classmethod
    def _psap_ids(cls, value: str) -> str:
        ids = [p.strip() for p in value.split(",") if p.strip()]
        bad = [p for p in ids if not PSAP_ID_PATTERN.match(p)]
        if bad:
            raise ValueError(f"PSAP ids may use letters, digits, '_' and '-' only: {', '.join(bad)}")
        return ",".join(dict.fromkeys(ids))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def psap_ids(self) -> tuple[str, ...]:
        return tuple(p for p in self.psaps.split(",") if p)


class Settings(BaseSettings):
    """Every setting of every dispatchbus process."""

    model_config = SettingsConfigDict(
        env_prefix="DISPATCHBUS_", env_nested_delimiter="__", extra="ignore", hide_input_in_errors=True
    )

    mode: Literal["development", "production"] = Field(
        default="development",
        description="production refuses settings unsafe for call data: Kafka without TLS or without host "
        "verification, a registry over plain HTTP, worker views without tokens.",
    )
    kafka: KafkaSettings = KafkaSettings()
    schema_registry: SchemaRegistrySettings = SchemaRegistrySettings()
    topics: TopicSettings = TopicSettings()
    worker: WorkerSettings = WorkerSettings()
    feedback: FeedbackSettings = FeedbackSettings()

    @model_validator(mode="after")
    def _safe_in_production(self) -> Settings:
        if self.mode == "production":
            problems = self.kafka.production_problems() + self.schema_registry.production_problems()
            if not self.worker.web_tokens:
                problems.append("worker.web_tokens is unset: the worker's views would answer without a token")
            if problems:
                raise ValueError("refusing production settings: " + "; ".join(problems))
        return self

    def to_env(self) -> dict[str, str]:
        """These settings as DISPATCHBUS_* environment variables (for child processes)."""
        env: dict[str, str] = {}

        def walk(prefix: str, model: BaseModel) -> None:
            for name in type(model).model_fields:
                value = getattr(model, name)
                key = f"{prefix}{name.upper()}"
                if isinstance(value, BaseModel):
                    walk(key + "__", value)
                elif value is not None:
                    env[key] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)

        walk("DISPATCHBUS_", self)
        return env

    def faust_config(self) -> dict[str, Any]:
        """Keyword arguments for faust.App."""
        from . import web_access

        k = self.kafka
        return {
            "id": self.worker.app_id,
            "broker": [f"dispatchbus://{server.strip()}" for server in k.bootstrap_servers.split(",")],
            "broker_client_id": k.client_id,
            "broker_credentials": k.faust_credentials(),
            "broker_session_timeout": k.session_timeout_s,
            "broker_heartbeat_interval": k.heartbeat_interval_s,
            "topic_replication_factor": k.replication_factor,
            "topic_allow_declare": True,
            "topic_disable_leader": True,
            "consumer_auto_offset_reset": "earliest",
            "producer_acks": -1,
            "producer_linger": k.linger_ms / 1000.0,
            "datadir": str(self.worker.data_dir),
            "web_host": self.worker.web_host,
            # Faust binds to web_bind (0.0.0.0 unless set), not web_host: both are the configured address.
            "web_bind": self.worker.web_host,
            "web_port": self.worker.web_port,
            "web_enabled": True,
            # Faust's own views: /table reads any table key (any PSAP's digests, whole timelines in its
            # errors), /router the cluster's layout; statistics, graph and performance stay off too.
            "web_tables_enabled": False,
            "web_router_enabled": False,
            "web_stats_enabled": False,
            "web_graph_enabled": False,
            "web_metrics_enabled": False,
            "web_application_options": {"middlewares": web_access.middlewares(
                self.worker.web_tokens.get_secret_value() if self.worker.web_tokens else None,
                metrics_open=self.worker.web_metrics_open,
            )},
            "store": "memory://",
            # Tables (call timelines, unit histories) hold JSON; topics declare raw bytes explicitly.
            "key_serializer": "json",
            "value_serializer": "json",
        }
