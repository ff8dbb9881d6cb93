"""Trading bots, rule-based and LLM-driven (issue 14): the LLM client so far (llm.py)."""
