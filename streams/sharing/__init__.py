"""What leaves the bus, and for whom: one folder an auditor reads.

* :mod:`.agencies`: what a handoff request tells the agency it goes to;
* :mod:`.call_centers`: what the outcome feedback tells the call center that took the call.
"""
