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
