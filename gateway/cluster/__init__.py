"""Several gateways on one Redis: robot leases, command routing, the leader (docs/scaling.md)."""
