"""Rule testing: the tests written inside rule files, run by `tierwise test` and pytest."""
