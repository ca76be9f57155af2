"""The decision log's schema migrations: an alembic environment shipped inside the package.

`tierwise.adapters.log_schema` runs them when a log is opened (see there). A change to the
log's tables is a new revision in versions/ (its `down_revision` the previous head) and a
new `log_schema.HEAD`; tests/test_log_schema.py holds the migrations to the models. Write
one from this template with:

    python -c "from alembic import command; from tierwise.adapters.log_schema import
    alembic_config; command.revision(alembic_config(), 'what changes', rev_id='0003')"
"""
