"""Optional apps built on the hub's public API: ``hubbub.contrib.chat`` and ``hubbub.contrib.notifications``."""
