"""Every error drillkit raises on purpose, and the exit code the CLI gives it.

    DrillkitError                 exit 3 unless a subclass says otherwise
    ├── InvalidInput              exit 2: a file, a flag or a field is wrong; nothing was touched
    └── Aborted                   exit 3: the work could not go on
        ├── TargetBusy            another run holds the target's lock (the message names it)
        ├── BackupError           the backup server (barman) failed; the message names the command and
        │                         quotes the last lines of its output
        └── SandboxError          a sandbox part failed to start, stop or answer
            └── PrivilegeError    an action needs root, or an unprivileged user could not be set up

Anything else that escapes a command is a crash: exit 3, one line naming it, the traceback in the log.

Exit codes are the same everywhere: 0 pass, 1 objective breached, 2 invalid input, 3 aborted.
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_BREACHED = 1
EXIT_INVALID = 2
EXIT_ABORTED = 3


class DrillkitError(Exception):
    """Base of every error drillkit raises on purpose."""

    exit_code = EXIT_ABORTED


class InvalidInput(DrillkitError):
    """A file, flag or field is wrong. Raised before anything is changed."""

    exit_code = EXIT_INVALID


class Aborted(DrillkitError):
    """The work could not go on."""

    exit_code = EXIT_ABORTED


class TargetBusy(Aborted):
    """Another run holds the target: one run per target at a time."""


class BackupError(Aborted):
    """A barman command failed or answered something drillkit cannot read."""


class SandboxError(Aborted):
    """A sandbox part failed to start, stop or answer."""


class PrivilegeError(SandboxError):
    """An action needs root, or the unprivileged user could not be set up."""
