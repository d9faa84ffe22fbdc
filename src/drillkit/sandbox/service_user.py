"""Running PostgreSQL as an unprivileged user when drillkit itself runs as root.

PostgreSQL refuses to start as root. Under root, drillkit creates a system user per database member
and app, and grants them only what they need: traversal (execute, not read) of the parent
directories of the interpreter, the installed packages and the state dir.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
from pathlib import Path

from drillkit.errors import PrivilegeError


def running_as_root() -> bool:
    return os.geteuid() == 0


def user_name(prefix: str, part_name: str) -> str:
    """The unprivileged user that runs one sandbox part, e.g. drillkit-pg-a."""
    return f"{prefix}-{part_name}"


def ensure_user(name: str) -> pwd.struct_passwd:
    """The system user NAME, created when missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if useradd is None:
        raise PrivilegeError(f"cannot create the user {name!r}: useradd is not installed")
    result = subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home",
         "--shell", "/usr/sbin/nologin", name],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise PrivilegeError(f"cannot create the user {name!r}: {result.stderr.strip()}")
    return pwd.getpwnam(name)


def grant_python_access(extra_paths: list[Path]) -> None:
    """Let any user traverse to the interpreter, its libraries and EXTRA_PATHS."""
    paths = [
        Path(sys.executable),
        Path(sys.executable).resolve(),
        Path(sys.base_prefix) / "lib",
        Path(sysconfig.get_path("purelib")),
        Path(sysconfig.get_path("platlib")),
        *extra_paths,
    ]
    for path in paths:
        grant_traversal(path)


def grant_traversal(path: Path) -> None:
    """Add the execute bit for others to every parent directory of PATH (never read)."""
    for parent in Path(os.path.abspath(path)).parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def give_to(path: Path, user: pwd.struct_passwd) -> None:
    """Hand PATH (not what lies below it) to USER."""
    os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
