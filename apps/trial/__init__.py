"""The trial console: a browser page over the shared trial controller (``apps/trial_console.py`` serves it)."""
