"""The cached metric children count into the same series as ``labels()``."""

from prometheus_client import CollectorRegistry, Counter

from dispatchbus.metrics import Children


def _value(registry, name, **labels):
    return registry.get_sample_value(name, labels)


def test_children_count_into_the_labelled_series():
    registry = CollectorRegistry()
    counter = Counter("things_total", "Things.", ["kind", "team"], registry=registry)
    things = Children(counter)

    things("a", "x").inc()
    things("a", "x").inc(2)
    things("b", "").inc()
    counter.labels("a", "x").inc()

    assert things("a", "x") is counter.labels("a", "x")
    assert things("a", "x") is not things("b", "")
    assert _value(registry, "things_total", kind="a", team="x") == 4
    assert _value(registry, "things_total", kind="b", team="") == 1
