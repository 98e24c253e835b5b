"""Backup and restore of the catalogue and the audit trail (both live in the center's database).

    python -m center_platform backup create PATH     SQLite: an online copy (sqlite3 backup API), the
                                                      center may keep running; PostgreSQL: pg_dump -Fc
    python -m center_platform backup restore PATH    SQLite: the center stopped, the copy put back;
                                                      PostgreSQL: pg_restore --clean

The evidence itself is in the store under Object Lock and is not part of this backup; what the
database held can also be rebuilt from the store's signed manifests. A restore ends with the audit
chain checked: a backup that does not verify is reported, not trusted. Without pg_dump/pg_restore
on the host the exact command line is printed instead (the password goes in PGPASSWORD, never in
the command line). Backup files are written 0600.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from center_platform.config import CenterConfig


class BackupError(RuntimeError):
    pass


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(parsed.database)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment that carries it."""
    parsed = make_url(url)
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _copy_sqlite(source: Path, target: Path) -> None:
    """sqlite3's online backup: a consistent copy while writers go on, page by page."""
    tmp = target.with_name(f".{target.name}.partial")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(tmp)
    try:
        src.backup(dst, pages=1024)
        problem = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if problem != "ok":
            raise BackupError(f"the copy failed its integrity check: {problem}")
    finally:
        dst.close()
        src.close()
    os.replace(tmp, target)


def create(url: str, target: Path) -> str:
    path = _sqlite_path(url)
    if path is not None:
        if not path.exists():
            raise BackupError(f"no database at {path}")
        _copy_sqlite(path, target)
        return f"SQLite {path} copied to {target}"
    conn, env = _libpq(url)
    target.unlink(missing_ok=True)
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # pg_dump keeps the mode
    cmd = ["pg_dump", "--format=custom", "--no-owner", f"--file={target}", f"--dbname={conn}"]
    return _run_or_print(cmd, env)


def restore(url: str, source: Path) -> str:
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    path = _sqlite_path(url)
    if path is not None:
        check = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            problem = check.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            problem = str(exc)
        finally:
            check.close()
        if problem != "ok":
            raise BackupError(f"{source} is damaged: {problem}")
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        _copy_sqlite(source, path)
        return f"{source} restored into {path}"
    conn, env = _libpq(url)
    cmd = [
        "pg_restore",
        "--clean",
        "--if-exists",
        "--no-owner",
        "--single-transaction",
        f"--dbname={conn}",
        str(source),
    ]
    return _run_or_print(cmd, env)


def _run_or_print(cmd: list[str], env: dict[str, str]) -> str:
    line = " ".join(cmd)
    if shutil.which(cmd[0]) is None:
        return f"{cmd[0]} is not installed here; run (password in PGPASSWORD):\n  {line}"
    run = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if run.returncode != 0:
        raise BackupError(f"{cmd[0]} failed ({run.returncode}): {run.stderr.strip()}")
    return f"done: {line}"


def cmd_backup(config: CenterConfig, args: argparse.Namespace) -> int:
    from center_platform.audit import trail as audit
    from center_platform.db.engine import make_engine, make_session_factory

    url = config.database_url()
    try:
        if args.backup_command == "create":
            print(create(url, args.path))
            return 0
        print(restore(url, args.path))
    except BackupError as exc:
        print(f"error: {exc}")
        return 2
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as db:
            broken = audit.verify_chain(db)
    finally:
        engine.dispose()
    if broken:
        print(f"the restored audit trail does NOT verify: {broken}")
        return 1
    print("audit trail verified")
    return 0


def register(sub: Any) -> None:
    """`backup create PATH` and `backup restore PATH` under `python -m center_platform`."""
    bak = sub.add_parser("backup", help="back up or restore the catalogue and audit trail").add_subparsers(
        dest="backup_command", required=True
    )
    for name, text in (
        ("create", "an online copy (SQLite) or pg_dump -Fc (PostgreSQL) to PATH"),
        ("restore", "put a backup back (the center stopped); the audit chain is then verified"),
    ):
        p = bak.add_parser(name, help=text)
        p.add_argument("path", type=Path)
        p.set_defaults(fn=cmd_backup)
