"""The spec as it was at a git commit: the spec file and every file its `include:` names,
read with `git show` (list arguments, never a shell) into a folder of their own."""

from __future__ import annotations

import os
import posixpath
import subprocess


class GitProblem(Exception):
    """Not a git repository, or the ref names no commit: a usage problem (exit 2)."""


def _env() -> dict[str, str]:
    """The environment of every git call: user and system config must not change what mlopsc
    reads or writes (log.showSignature, i18n, mailmap), nor inherited GIT_* variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") or key in ("GIT_DIR", "GIT_WORK_TREE")
    }
    env.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "LC_ALL": "C"})
    return env


def _git(root: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["git", "-C", root, "-c", "core.quotePath=false", *args],
        capture_output=True,
        timeout=60,
        check=False,
        env=_env(),
    )


def git_text(root: str, *args: str) -> str | None:
    """The output of a git command in `root` as text, or None when it fails or cannot run."""
    try:
        done = _git(root, *args)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", errors="replace")


def git_root(path: str) -> str:
    """The top folder of the git work tree holding `path`."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    try:
        done = _git(folder, "rev-parse", "--show-toplevel")
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitProblem(f"cannot run git: {exc}") from None
    if done.returncode != 0:
        raise GitProblem(f"{folder} is not inside a git repository")
    return done.stdout.decode().strip()


def resolve_ref(root: str, ref: str) -> str:
    """The commit a ref names."""
    if not ref or ref.startswith("-"):
        raise GitProblem(f"'{ref}' is not a git ref")
    done = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if done.returncode != 0:
        raise GitProblem(f"'{ref}' names no commit in {root}")
    return done.stdout.decode().strip()


def _includes(content: bytes) -> list[str]:
    """The `include:` patterns of a spec file, or none when it does not parse."""
    import yaml

    try:
        data = yaml.safe_load(content)
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        return []
    found = data.get("include") if isinstance(data, dict) else None
    return [p for p in found if isinstance(p, str)] if isinstance(found, list) else []


def _matches(name: str, pattern: str) -> bool:
    # fnmatch's `*` also crosses `/`, so this selects a superset of what glob finds; the
    # loader globs the copy exactly. `**/` may match no folder at all, as in glob.
    import fnmatch

    pattern = posixpath.normpath(pattern)
    return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(
        name, pattern.replace("**/", "")
    )


def _safe(name: str) -> bool:
    return all(part not in ("", ".", "..") for part in name.split("/"))


def materialize(root: str, commit: str, spec_rel: str, into: str) -> bool:
    """Write the spec at `commit` and the files it includes into `into`; False if absent."""
    listing = _git(root, "ls-tree", "-r", "-z", "--name-only", commit)
    if listing.returncode != 0:
        raise GitProblem(listing.stderr.decode(errors="replace").strip() or "git ls-tree failed")
    # A crafted tree can hold entries named "." or ".." (git mktree accepts them): such a
    # name is never read, so nothing is written outside `into`.
    names = [n for n in os.fsdecode(listing.stdout).split("\0") if n and _safe(n)]
    if spec_rel not in names:
        return False
    queue, seen = [spec_rel], {spec_rel}
    while queue:
        name = queue.pop(0)
        shown = _git(root, "show", f"{commit}:{name}")
        if shown.returncode != 0:
            raise GitProblem(f"cannot read {name} at {commit[:12]}")
        target = os.path.join(into, *name.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(shown.stdout)
        folder = posixpath.dirname(name)
        for pattern in _includes(shown.stdout):
            full = posixpath.join(folder, pattern)
            for other in names:
                if other not in seen and _matches(other, full):
                    seen.add(other)
                    queue.append(other)
    # The lock beside the spec: registry versions as resolved at that commit.
    from compiler.registry.lock import LOCK_NAME

    lock = posixpath.join(posixpath.dirname(spec_rel), LOCK_NAME)
    if lock in names and lock not in seen:
        shown = _git(root, "show", f"{commit}:{lock}")
        if shown.returncode == 0:
            with open(os.path.join(into, *lock.split("/")), "wb") as handle:
                handle.write(shown.stdout)
    return True
