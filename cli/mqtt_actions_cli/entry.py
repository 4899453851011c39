"""The `mqtt-actions` console script: runs `main.main`, and makes Ctrl-C at any moment (while
modules load, while a command runs, while the interpreter shuts down) one line and exit 130,
never a traceback. Kept apart from main.py so that nothing is imported before the guard."""

import sys

MESSAGE = "mqtt-actions: interrupted\n"
EXIT_INTERRUPTED = 130


def main() -> int:
    try:
        from mqtt_actions_cli.main import main as run

        code = run()
    except KeyboardInterrupt:
        _quit_quietly()
        sys.stderr.write(MESSAGE)
        return EXIT_INTERRUPTED
    _quit_quietly()
    return code


def _quit_quietly() -> None:
    """From here to the process's end (atexit, joining threads) a Ctrl-C ends it at once."""
    import signal

    signal.signal(signal.SIGINT, _interrupted_while_leaving)


def _interrupted_while_leaving(_signum: int, _frame: object) -> None:
    import os

    os.write(2, MESSAGE.encode())
    os._exit(EXIT_INTERRUPTED)
