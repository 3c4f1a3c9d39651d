"""Together AI provider for llmrouter."""
