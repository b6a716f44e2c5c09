"""Operations: the deployment files generated from the catalogue (``python -m dispatchbus.ops.deployment``)."""
