"""llm-stack's additions to the LiteLLM proxy: 401 auth without a database, a hard daily budget, readiness.

Deployed on its own (it never imports ``infra``): everything comes from the rendered config and the environment.
"""
