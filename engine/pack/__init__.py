"""Pack building: rule files loaded (YAML, CSV), validated, parsed and checked into the IR."""
