"""Errors that name the file and the problem."""

from __future__ import annotations

from pathlib import Path


class HipsegError(Exception):
    """A user-facing error: the message names the file and what is wrong with it."""


class ConfigError(HipsegError):
    """A config value that cannot work; the message starts with ``config:``."""

    def __init__(self, problem: str):
        super().__init__(f"config: {problem}")


class InputError(HipsegError):
    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ValidationError(HipsegError):
    """Several problems found at once; each line names the file it concerns."""

    def __init__(self, source: str | Path, problems: list[str]):
        self.source = str(source)
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s) found:\n{lines}")
