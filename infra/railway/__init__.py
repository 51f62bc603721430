"""Railway as Pulumi resources: a dynamic provider over Railway's public GraphQL API.

No Railway provider is published for Pulumi's Python SDK, so we wrote one: ``client`` (one connection, one
request pace, retries, Railway's messages), ``tokens`` (which token, refused early if wrong), ``operations``
(every document it sends, schema-validated in tests), ``fields`` + ``provider`` (the field tables and what
every resource shares) and one module per resource, gathered in ``resources``. Create is idempotent: it
adopts what a half-failed earlier run left behind.
"""
