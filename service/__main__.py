"""`python -m service` entry point: delegates to the command line in `service.cli`."""

from service.cli import main

raise SystemExit(main())
