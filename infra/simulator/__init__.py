"""A provider simulator on 127.0.0.1 speaking OpenAI, Anthropic and Gemini wire formats, with faults on demand.

Product code, not a test helper: ``llmstack local --simulate`` and ``llmstack drill`` run the real LiteLLM proxy
against it.
"""

from infra.simulator.server import Behavior, ProviderSimulator

__all__ = ["Behavior", "ProviderSimulator"]
