"""Impact: what a change of a rule pack does, statically and to a base of clients."""
