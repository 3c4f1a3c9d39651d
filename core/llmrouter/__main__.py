"""``python -m llmrouter``: the same as the ``llmrouter`` command."""

from llmrouter.cli import main

raise SystemExit(main())
