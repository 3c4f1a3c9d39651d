"""AWS Bedrock's Converse API as an llmrouter provider: ``model="bedrock/<model-id>"``.

:func:`warm_credentials` resolves the AWS credential chain ahead of the first request (see
docs/providers/bedrock.md); importing this package imports no botocore.
"""

from llmrouter_bedrock.auth import warm_credentials

__all__ = ["warm_credentials"]
