"""Everything that talks to another host: error taxonomy and the one resilience mechanism."""
