"""Apache Kafka with authentication, encryption and ACLs, for development and tests.

:class:`SecuredKafkaBroker` is a :class:`~dispatchbus.dev.kafka_broker.KafkaBroker` with three
more things: a SASL_SSL listener (SCRAM-SHA-512), an SSL listener that requires a client
certificate (mutual TLS), and the standard KRaft authorizer with no allow-if-no-ACL, so a
principal may do only what an ACL grants it. Certificates come from a throw-away CA that
:class:`TestCertificates` makes with ``openssl``; SCRAM users are created through the admin API
(:meth:`SecuredKafkaBroker.add_scram_user`). Principals are ``User:<name>`` on both listeners:
a certificate's CN is its principal (``ssl.principal.mapping.rules``).

The plain listener (:attr:`bootstrap_servers`) stays for the harness alone: it and the controller
run as ``User:ANONYMOUS``, the one super user, on loopback.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Mapping
from pathlib import Path

from ..settings import KafkaSettings
from .embedded_broker import BrokerError, free_port
from .kafka_broker import DEFAULT_KAFKA_VERSION, KafkaBroker

SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192


class TestCertificates:
    """A CA, the broker's certificate (for 127.0.0.1 and localhost) and client certificates, as PEM files."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = directory / "ca.pem"
        self._ca_key = directory / "ca.key"
        self.broker_keystore = directory / "broker-keystore.pem"

    def _openssl(self, *args: str) -> None:
        done = subprocess.run(["openssl", *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise BrokerError(f"openssl {args[0]} failed: {done.stderr[-2000:]}")

    def make(self) -> TestCertificates:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(self._ca_key), "-out", str(self.ca), "-days", "7", "-subj", "/CN=dispatchbus test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        )
        cert, key = self._issue("broker", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth")
        self.broker_keystore.write_text(key.read_text() + cert.read_text() + self.ca.read_text())
        return self

    def _issue(self, name: str, common_name: str, extensions: str) -> tuple[Path, Path]:
        key, csr, cert = (self.directory / f"{name}{ext}" for ext in (".key", ".csr", ".pem"))
        ext_file = self.directory / f"{name}.ext"
        ext_file.write_text(extensions + "\n")
        self._openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={common_name}",
        )
        self._openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(self._ca_key),
            "-CAcreateserial", "-out", str(cert), "-days", "7", "-extfile", str(ext_file),
        )
        key.chmod(0o600)
        return cert, key

    def client(self, principal: str) -> tuple[Path, Path]:
        """A client certificate whose CN, hence Kafka principal, is ``principal`` (made once)."""
        cert, key = self.directory / f"client-{principal}.pem", self.directory / f"client-{principal}.key"
        if not cert.is_file():
            self._issue(f"client-{principal}", principal, "extendedKeyUsage=clientAuth")
        return cert, key


class SecuredKafkaBroker(KafkaBroker):
    """Apache Kafka with SASL_SSL (SCRAM-SHA-512) and mutual-TLS listeners and the standard authorizer."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, log_file: Path | None = None, *,
                 run_dir: Path | None = None, version: str = DEFAULT_KAFKA_VERSION,
                 broker_config: Mapping[str, str] | None = None) -> None:
        super().__init__(host, port, log_file, run_dir=run_dir, version=version, broker_config=broker_config)
        self.sasl_port = free_port(host)
        self.mtls_port = free_port(host)
        self.certificates = TestCertificates(self.run_dir / "tls")
        self._passwords: dict[str, str] = {}

    @property
    def sasl_bootstrap_servers(self) -> str:
        return f"{self.host}:{self.sasl_port}"

    @property
    def mtls_bootstrap_servers(self) -> str:
        return f"{self.host}:{self.mtls_port}"

    def server_properties(self) -> dict[str, str]:
        conf = super().server_properties()
        h = self.host
        conf.update({
            "listeners": f"PLAINTEXT://{h}:{self.port},SASL_SSL://{h}:{self.sasl_port},"
                         f"SSL://{h}:{self.mtls_port},CONTROLLER://{h}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{h}:{self.port},SASL_SSL://{h}:{self.sasl_port},"
                                    f"SSL://{h}:{self.mtls_port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL",
            "sasl.enabled.mechanisms": SCRAM_MECHANISM,
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.certificates.broker_keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.certificates.ca),
            "listener.name.ssl.ssl.client.auth": "required",
            "ssl.principal.mapping.rules": "RULE:^CN=([^,]+)$/$1/,DEFAULT",
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": "User:ANONYMOUS",
            **self.extra_config,
        })
        return conf

    def format(self) -> None:
        if not self.certificates.ca.is_file():
            self.certificates.make()
        super().format()

    def add_scram_user(self, name: str) -> str:
        """Create (or reset) SCRAM user ``name`` through the admin API; returns its new password."""
        from confluent_kafka.admin import (
            AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion,
        )

        password = secrets.token_urlsafe(18)
        admin = AdminClient({"bootstrap.servers": self.bootstrap_servers})
        upsert = UserScramCredentialUpsertion(
            name, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS), password.encode()
        )
        for future in admin.alter_user_scram_credentials([upsert], request_timeout=30).values():
            future.result()
        self._passwords[name] = password
        return password

    def scram_settings(self, principal: str, **overrides: object) -> KafkaSettings:
        """KafkaSettings of SCRAM user ``principal`` on the SASL_SSL listener (the user is created once)."""
        password = self._passwords.get(principal) or self.add_scram_user(principal)
        return KafkaSettings(
            bootstrap_servers=self.sasl_bootstrap_servers, security_protocol="SASL_SSL",
            sasl_mechanism=SCRAM_MECHANISM, sasl_username=principal, sasl_password=password,
            ssl_ca_location=self.certificates.ca, client_id=principal, **overrides,
        )

    def mtls_settings(self, principal: str, **overrides: object) -> KafkaSettings:
        """KafkaSettings of ``principal`` by client certificate on the mutual-TLS listener."""
        cert, key = self.certificates.client(principal)
        return KafkaSettings(
            bootstrap_servers=self.mtls_bootstrap_servers, security_protocol="SSL",
            ssl_ca_location=self.certificates.ca, ssl_certificate_location=cert, ssl_key_location=key,
            client_id=principal, **overrides,
        )
