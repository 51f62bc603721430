"""Alembic environment: the connection comes from the caller (llmstack_bot.db.migrate)."""

from alembic import context
from llmstack_bot.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
