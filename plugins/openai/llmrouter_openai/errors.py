"""The one error this plugin adds to llmrouter's tree.

OpenAI answers an exhausted quota or credit balance with **429** and the code
``insufficient_quota``. The core refines an error class only *within* its status family (a code
never turns a 429 into a 402), so the class for it must be a :class:`~llmrouter.RateLimitError`.
But it is not a rate limit: waiting does not help, so it is not retryable, and a router moves on
to the next deployment at once instead of burning its retry budget. ``except RateLimitError``
still catches it (as with the OpenAI SDK, which raises ``RateLimitError`` for it).
"""

from __future__ import annotations

from llmrouter.errors import RateLimitError

__all__ = ["InsufficientQuotaError"]


class InsufficientQuotaError(RateLimitError):
    """429 with code ``insufficient_quota``: out of quota or credits. Not retryable."""

    retryable = False
