"""LiteLLM reads its bundled price map instead of fetching it (no network here, and the gateway does the same)."""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
