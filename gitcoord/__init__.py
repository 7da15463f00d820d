"""gitcoord: leases, claims, enforcing hooks and an audit trail for many agents in one git repository."""

__version__ = "0.1.0"
