"""Anthropic's Messages API (Claude) as an llmrouter provider: ``model="anthropic/<model>"``."""
