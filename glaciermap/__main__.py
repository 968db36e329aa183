"""Allow ``python -m glaciermap``."""

from glaciermap.cli.main import main

raise SystemExit(main())
