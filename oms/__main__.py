"""`python -m oms` is the same as the `oms` command."""

from oms.cli import main

raise SystemExit(main())
