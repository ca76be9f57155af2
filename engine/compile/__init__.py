"""Compilers from the IR: `durable` (per-client Rete matching) and `sql` (batch push-down)."""
