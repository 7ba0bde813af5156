"""The pytest wiring: options, one run's lifecycle, fixtures, the light runtest protocol, the fix phase
and the plugin's own hookspecs. ``plugin`` is the module pytest loads (entry point ``pytest11``)."""
