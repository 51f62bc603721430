"""Railway as Pulumi resources: a dynamic provider over Railway's public GraphQL API.

No Railway provider is published for Pulumi's Python SDK, so we wrote one: ``client`` (transport, retries, error
messages), ``operations`` (every document it sends, schema-validated in tests) and ``resources`` (the providers
and resource classes). Create is idempotent: it adopts what a half-failed earlier run left behind.
"""
