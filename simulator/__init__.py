"""`robodine sim`: a fleet of simulated robots speaking the v1 protocol to a gateway.

The demo, the test peer and the load generator. ``model`` is the pure robot
behaviour, ``client`` the TCP/UDP transport, ``robot`` one robot's loop,
``fleet`` many of them in one process (docs/simulator.md).
"""
