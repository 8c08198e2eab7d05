"""``python -m plugin_core.cli``: the ``outlive`` command without its console script (the
watcher service runs this way, with the same interpreter as its starter)."""

from plugin_core.cli import main

main()
