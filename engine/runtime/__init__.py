"""The per-client runtime: facts validated, rules matched by durable_rules, hit policies
resolved and every decision explained."""
