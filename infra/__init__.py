"""llm-stack: a multi-provider LLM stack declared as code.

Arrows point down: ``cli`` and ``__main__`` -> ``components`` -> ``render``, ``checks``, ``chains`` -> ``catalog``.
"""
