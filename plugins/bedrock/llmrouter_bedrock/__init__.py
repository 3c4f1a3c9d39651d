"""AWS Bedrock's Converse API as an llmrouter provider: ``model="bedrock/<model-id>"``."""
