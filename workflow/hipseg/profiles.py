"""Install the cluster profiles where ``snakemake --profile NAME`` finds them.

Snakemake looks for a profile in ./NAME, ~/.config/snakemake/NAME ($XDG_CONFIG_HOME) and
/etc/xdg/snakemake/NAME, not in this repository's ``profiles/``. ``hipseg install-profile NAME``
links ``~/.config/snakemake/NAME`` to ``profiles/NAME`` of this clone: the profile's scripts keep
finding the clone's ``workflow/hipseg``, and an edit of ``profiles/NAME/config.yaml`` takes effect
at once.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import HipsegError

PROFILES_DIR = Path(__file__).resolve().parents[2] / "profiles"
CLUSTER_PROFILES = ("metacentrum", "slurm")


def user_profile_dir() -> Path:
    """Snakemake's per-user profile folder (appdirs' user_config_dir on Linux)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "snakemake"


def install(name: str, dest_root: str | Path | None = None, force: bool = False) -> Path:
    """Link ``<dest_root>/<name>`` to ``profiles/<name>``; return the link."""
    if name not in CLUSTER_PROFILES:
        raise HipsegError(f"unknown profile {name!r}; choose one of {', '.join(CLUSTER_PROFILES)}")
    source = PROFILES_DIR / name
    if not (source / "config.yaml").is_file():
        raise HipsegError(f"{source}/config.yaml is missing")
    root = Path(dest_root) if dest_root else user_profile_dir()
    root.mkdir(parents=True, exist_ok=True)
    link = root / name
    if link.is_symlink() and link.resolve() == source.resolve():
        return link
    if link.exists() or link.is_symlink():
        if not force:
            raise HipsegError(
                f"{link} exists (points to {os.path.realpath(link)}); "
                "use --force to replace it with a link to this clone's profile"
            )
        if link.is_symlink() or link.is_file():
            link.unlink()
        else:
            raise HipsegError(f"{link} is a folder; move it away first")
    link.symlink_to(source, target_is_directory=True)
    return link
