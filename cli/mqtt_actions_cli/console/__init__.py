"""The web console: routes (pages.py) -> ops calls -> templates; static/ holds the vendored
htmx and uPlot with their licences and the console's own CSS and JS (no inline script)."""
