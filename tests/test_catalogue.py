from dispatchbus import catalogue
from dispatchbus.contract.events import EVENT_TYPES
from dispatchbus.settings import TopicSettings


def test_every_event_type_has_a_topic():
    carried = {t for spec in catalogue.CATALOGUE for t in spec.value_types}
    assert carried == set(EVENT_TYPES)


def test_key_fields_exist_on_every_value_type():
    for spec in catalogue.CATALOGUE:
        if spec is catalogue.DEAD_LETTER:
            continue
        for t in spec.value_types:
            assert spec.key in t.model_fields, f"{t.__name__} on {spec.name} has no {spec.key}"


def test_call_keyed_topics_are_co_partitioned():
    counts = {spec.partitions for spec in catalogue.CATALOGUE if spec.key == "call_id"}
    assert counts == {catalogue.CALL_PARTITIONS}


def test_dead_letter_topic_is_restricted_and_the_only_one():
    assert [s.name for s in catalogue.CATALOGUE if s.restricted] == ["bus.deadletter"]


def test_names_are_unique_and_prefixed():
    names = [s.full_name(TopicSettings(prefix="x.")) for s in catalogue.CATALOGUE]
    assert len(set(names)) == len(names) and all(n.startswith("x.") for n in names)
    assert catalogue.lookup("x.cad.calls", TopicSettings(prefix="x.")) is catalogue.CAD_CALLS
