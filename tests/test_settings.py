from dispatchbus.settings import Settings


def test_env_prefix_and_nesting(monkeypatch):
    monkeypatch.setenv("DISPATCHBUS_KAFKA__BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("DISPATCHBUS_KAFKA__FETCH_MAX_WAIT_MS", "10")
    monkeypatch.setenv("DISPATCHBUS_TOPICS__PREFIX", "prod.")
    s = Settings()
    assert s.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert s.kafka.consumer_config("g")["fetch.wait.max.ms"] == 10
    assert s.faust_config()["broker"] == ["dispatchbus://k1:9092", "dispatchbus://k2:9092"]
    assert s.topics.prefix == "prod."


def test_secrets_render_to_librdkafka_but_never_print(monkeypatch):
    monkeypatch.setenv("DISPATCHBUS_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("DISPATCHBUS_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("DISPATCHBUS_KAFKA__SASL_USERNAME", "bus")
    monkeypatch.setenv("DISPATCHBUS_KAFKA__SASL_PASSWORD", "hunter2")
    s = Settings()
    conf = s.kafka.producer_config()
    assert conf["sasl.password"] == "hunter2" and conf["security.protocol"] == "SASL_SSL"
    assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())
    creds = s.faust_config()["broker_credentials"]
    assert (creds.username, creds.password, creds.mechanism.value) == ("bus", "hunter2", "SCRAM-SHA-512")
    assert creds.ssl_context is not None


def test_clients_never_auto_create_topics():
    conf = Settings().kafka.consumer_config("g")
    assert conf["allow.auto.create.topics"] is False
    assert conf["enable.auto.commit"] is False


def test_to_env_round_trips(monkeypatch):
    s = Settings()
    s.kafka.session_timeout_s = 6.0
    s.worker.web_port = 7001
    for key, value in s.to_env().items():
        monkeypatch.setenv(key, value)
    again = Settings()
    assert again.kafka.session_timeout_s == 6.0 and again.worker.web_port == 7001


def test_plaintext_has_no_faust_credentials():
    assert Settings().faust_config()["broker_credentials"] is None


def test_the_output_hold_s_description_names_the_batch_size_the_driver_holds_from():
    from dispatchbus.runtime.lock_switch import HOLD_BATCH_RECORDS
    from dispatchbus.settings import WorkerSettings

    description = WorkerSettings.model_fields["busy_output_hold_s"].description
    assert f"a fetched batch of {HOLD_BATCH_RECORDS:,} records or more" in description


# ---- security: consistent TLS and SASL, production refuses what is unsafe for call data ----

import pytest  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from dispatchbus.settings import KafkaSettings  # noqa: E402

SAFE_PRODUCTION = {
    "DISPATCHBUS_MODE": "production",
    "DISPATCHBUS_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
    "DISPATCHBUS_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
    "DISPATCHBUS_KAFKA__SASL_USERNAME": "bus",
    "DISPATCHBUS_KAFKA__SASL_PASSWORD": "hunter2-hunter2",
    "DISPATCHBUS_SCHEMA_REGISTRY__URL": "https://registry:8081",
    "DISPATCHBUS_WORKER__WEB_TOKENS": "ops:" + "t0ken" * 5,
}


def production(monkeypatch, **changes):
    for key, value in {**SAFE_PRODUCTION, **changes}.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    return Settings()


def test_production_accepts_scram_over_tls_with_tokens_and_an_https_registry(monkeypatch):
    s = production(monkeypatch)
    assert s.kafka.common_config()["ssl.endpoint.identification.algorithm"] == "https"


@pytest.mark.parametrize(("changes", "reason"), [
    ({"DISPATCHBUS_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT", "DISPATCHBUS_KAFKA__SASL_MECHANISM": "PLAIN"},
     "SASL_PLAINTEXT sends call data and passwords unencrypted"),
    ({"DISPATCHBUS_KAFKA__SECURITY_PROTOCOL": "PLAINTEXT", "DISPATCHBUS_KAFKA__SASL_MECHANISM": None,
      "DISPATCHBUS_KAFKA__SASL_USERNAME": None, "DISPATCHBUS_KAFKA__SASL_PASSWORD": None},
     "PLAINTEXT sends call data unencrypted"),
    ({"DISPATCHBUS_KAFKA__SSL_CHECK_HOSTNAME": "false"}, "ssl_check_hostname is false"),
    ({"DISPATCHBUS_SCHEMA_REGISTRY__URL": "http://registry:8081"}, "schema_registry.url is not https"),
    ({"DISPATCHBUS_WORKER__WEB_TOKENS": None}, "worker.web_tokens is unset"),
])
def test_production_refuses_what_is_unsafe_for_call_data_and_says_why(monkeypatch, changes, reason):
    with pytest.raises(ValidationError) as raised:
        production(monkeypatch, **changes)
    message = str(raised.value)
    assert "refusing production settings" in message and reason in message
    assert "hunter2" not in message and "t0ken" not in message


def test_development_accepts_what_production_refuses(monkeypatch):
    s = production(monkeypatch, DISPATCHBUS_MODE="development", DISPATCHBUS_KAFKA__SSL_CHECK_HOSTNAME="false")
    assert s.kafka.common_config()["ssl.endpoint.identification.algorithm"] == "none"
    assert s.faust_config()["broker_credentials"].ssl_context.check_hostname is False


def test_sasl_needs_its_mechanism_so_both_client_libraries_use_the_same_one():
    with pytest.raises(ValidationError, match="needs sasl_mechanism"):
        KafkaSettings(security_protocol="SASL_SSL", sasl_username="bus", sasl_password="x")
    with pytest.raises(ValidationError, match="SASL settings are given"):
        KafkaSettings(security_protocol="SSL", sasl_mechanism="SCRAM-SHA-512")
    k = KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256", sasl_username="bus",
                      sasl_password="x")
    creds = Settings(kafka=k).faust_config()["broker_credentials"]
    assert k.common_config()["sasl.mechanism"] == creds.mechanism.value == "SCRAM-SHA-256"
    assert k.common_config()["security.protocol"] == "SASL_SSL" and creds.ssl_context is not None


def test_mutual_tls_renders_the_client_certificate_for_both_client_libraries(tmp_path):
    from dispatchbus.dev.kafka_security import TestCertificates

    certs = TestCertificates(tmp_path).make()
    cert, key = certs.client("bus")
    with pytest.raises(ValidationError, match="both ssl_certificate_location and ssl_key_location"):
        KafkaSettings(security_protocol="SSL", ssl_certificate_location=cert)
    with pytest.raises(ValidationError, match="TLS files are given"):
        KafkaSettings(ssl_ca_location=certs.ca)
    k = KafkaSettings(security_protocol="SSL", ssl_ca_location=certs.ca, ssl_certificate_location=cert,
                      ssl_key_location=key)
    conf = k.common_config()
    assert (conf["ssl.certificate.location"], conf["ssl.key.location"]) == (str(cert), str(key))
    creds = Settings(kafka=k).faust_config()["broker_credentials"]
    assert creds.context.check_hostname is True  # the certificate chain loaded, the host is checked


def test_the_registry_client_gets_its_tls_files(tmp_path):
    from dispatchbus.settings import SchemaRegistrySettings

    conf = SchemaRegistrySettings(url="https://registry:8081", ssl_ca_location=tmp_path / "ca.pem",
                                  basic_auth_user_info="bus:secret").client_config()
    assert conf["ssl.ca.location"] == str(tmp_path / "ca.pem") and conf["basic.auth.user.info"] == "bus:secret"
    assert "secret" not in repr(SchemaRegistrySettings(basic_auth_user_info="bus:secret"))
