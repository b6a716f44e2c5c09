"""The secured Apache Kafka of the tests: SCRAM-SHA-512 over TLS, mutual TLS, and who they let in."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from dispatchbus.dev.kafka_security import TestCertificates


def metadata_broker(kafka, timeout: float = 15.0) -> str:
    """The listener a client reached (raises KafkaException when it cannot get in)."""
    return AdminClient(kafka.admin_config()).list_topics(timeout=timeout).orig_broker_name


def test_a_scram_user_made_through_the_admin_api_gets_in_over_tls(secured_broker):
    kafka = secured_broker.scram_settings("cad")
    assert metadata_broker(kafka).startswith(f"sasl_ssl://{secured_broker.sasl_bootstrap_servers}")
    # the certificate names localhost too: host verification passes by name as by address
    by_name = kafka.model_copy(update={"bootstrap_servers": f"localhost:{secured_broker.sasl_port}"})
    assert metadata_broker(by_name)


def test_a_wrong_password_or_an_unknown_user_is_refused(secured_broker):
    kafka = secured_broker.scram_settings("cad")
    for update in ({"sasl_password": SecretStr("not-the-password")}, {"sasl_username": "nobody"}):
        with pytest.raises(KafkaException):
            metadata_broker(kafka.model_copy(update=update), timeout=5)


def test_mutual_tls_needs_a_certificate_from_the_ca(secured_broker, tmp_path):
    kafka = secured_broker.mtls_settings("responders")
    assert metadata_broker(kafka).startswith(f"ssl://{secured_broker.mtls_bootstrap_servers}")
    without = kafka.model_copy(update={"ssl_certificate_location": None, "ssl_key_location": None})
    with pytest.raises(KafkaException):
        metadata_broker(without, timeout=5)
    stranger = TestCertificates(tmp_path / "other-ca").make()
    cert, key = stranger.client("responders")  # the same name, another CA
    with pytest.raises(KafkaException):
        metadata_broker(kafka.model_copy(update={"ssl_certificate_location": cert, "ssl_key_location": key}), timeout=5)


def test_a_client_that_does_not_trust_the_brokers_ca_does_not_connect(secured_broker, tmp_path):
    other = TestCertificates(tmp_path / "other-ca").make()
    kafka = secured_broker.scram_settings("cad").model_copy(update={"ssl_ca_location": other.ca})
    with pytest.raises(KafkaException):
        metadata_broker(kafka, timeout=5)
