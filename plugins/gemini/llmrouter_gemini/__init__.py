"""Google's Gemini API as an llmrouter provider: ``model="gemini/<model>"``."""
