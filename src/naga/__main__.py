"""``python -m naga``: the naga command."""

from naga.cli import main

raise SystemExit(main())
