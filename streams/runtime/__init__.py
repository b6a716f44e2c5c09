"""The worker's runtime under Faust: the Kafka driver, the tables, the output producer and interpreter tuning.

Nothing here knows calls or agencies; the agents (:mod:`dispatchbus.agents`) run on it.
"""
