"""`python -m center_platform`: serve, migrate, enrol branches, manage users and the catalogue, verify the audit trail."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import secrets
import socket
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from center_platform.admin import signing_keys
from center_platform.audit import trail as audit
from center_platform.config import CenterConfig, load_center_config
from center_platform.db.engine import make_engine, make_session_factory, upgrade_to_head
from center_platform.db.models import Branch, Counter, Product, ProductType, Staff, User
from center_platform.db.sealed_secrets import seal_branch_secret
from center_platform.retention.rules import RULES, YEAR_FIELDS, below_minimum, minimum_message
from center_platform.web.roles import BRANCH_ADMIN, ROLES
from storage.config_file import ConfigError
from storage.contract.passwords import hash_password
from storage.contract.roles import RELATIONSHIP_MANAGER, STAFF_ROLES
from storage.endpoint import S3Endpoint
from storage.object_store import ObjectStore
from storage.seaweed import SeaweedServer, SeaweedSettings

ENV_NEW_PASSWORD = "CENTER_NEW_PASSWORD"


class CommandError(Exception):
    pass


def _only_on_the_admin_page(what_zh: str, what_en: str, page: str) -> CommandError:
    """Four eyes: the CLI creates (bootstrap) but never changes what a second system admin must approve."""
    return CommandError(
        f"{what_zh}须在管理页面 {page} 提出,经另一名系统管理员复核(待复核)后生效;命令行不能修改 / "
        f"{what_en} is proposed on the admin page ({page}) and applies once a second system admin approves it "
        "(Pending approval); the command line does not change it"
    )


@contextlib.contextmanager
def open_store(config: CenterConfig) -> Iterator[ObjectStore]:
    """The evidence store: embedded SeaweedFS for demos and tests, or an external S3 with Object Lock."""
    if config.storage.mode == "embedded":
        server = SeaweedServer(
            SeaweedSettings(
                data_dir=config.server.data_dir / "storage",
                bucket=config.storage.bucket,
                s3_port=config.storage.s3_port,
            )
        )
        endpoint = server.start()
        try:
            store = ObjectStore(endpoint)
            store.ensure_evidence_bucket(config.storage.default_lock_days)
            yield store
        finally:
            server.stop()
    else:
        access, secret = config.external_s3_credentials()
        store = ObjectStore(
            S3Endpoint(
                url=config.storage.endpoint_url,
                access_key=access,
                secret_key=secret,
                bucket=config.storage.bucket,
                region=config.storage.region,
            )
        )
        store.ensure_evidence_bucket(config.storage.default_lock_days)
        yield store


def _sessions(config: CenterConfig) -> sessionmaker[Session]:
    url = config.database_url()
    upgrade_to_head(url)
    return make_session_factory(make_engine(url), config.session_info())


def _new_password(prompt: str) -> str:
    value = os.environ.get(ENV_NEW_PASSWORD) or getpass.getpass(prompt)
    if len(value) < 8:
        raise CommandError("a password needs at least 8 characters")
    return value


def _bound_listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise CommandError(f"server.port {port} on {host} is not available: {exc.strerror}") from exc
    return sock


def cmd_serve(config: CenterConfig, args: argparse.Namespace) -> int:
    from waitress import create_server

    from center_platform.app import create_app
    from storage.web_serving import serve_until_terminated

    # The port is taken before the embedded store starts: the store picks free ports for its own
    # components and must never be handed the one this server was configured (or told) to use.
    listener = _bound_listener(config.server.host, config.server.port)
    with open_store(config) as store:
        app = create_app(config, store)
        from center_platform.scheduler import start_center_scheduler

        scheduler = start_center_scheduler(app.extensions["center"])
        server = create_server(app, sockets=[listener], threads=8)
        print(f"center listening on http://{config.server.host}:{server.effective_port}", flush=True)
        try:
            # SIGTERM and Ctrl-C end it; the `with` then stops the embedded store.
            serve_until_terminated(server)
        finally:
            scheduler.shutdown(wait=False)
    return 0


def cmd_db_upgrade(config: CenterConfig, args: argparse.Namespace) -> int:
    upgrade_to_head(config.database_url())
    print("database at head")
    return 0


def cmd_branch_add(config: CenterConfig, args: argparse.Namespace) -> int:
    sessions = _sessions(config)
    with sessions() as db:
        if db.execute(select(Branch).where(Branch.code == args.code)).scalar_one_or_none():
            raise _only_on_the_admin_page(
                f"网点 {args.code} 已存在;更换签名密钥",
                f"branch {args.code} already exists; a new signing key",
                f"/admin/branches/{args.code}",
            )
        api_secret = secrets.token_urlsafe(32)
        branch = Branch(
            code=args.code,
            name=args.name,
            timezone=args.timezone,
            api_secret=seal_branch_secret(db, args.code, api_secret),
            signing_public_key=args.public_key,
        )
        db.add(branch)
        db.flush()
        signing_keys.enrol(db, branch, "cli")
        for code in args.counter:
            db.add(Counter(branch_id=branch.id, code=code, name=code))
        audit.append(db, "cli", "branch.enrolled", args.code, {"counters": args.counter})
        db.commit()
    print(api_secret)
    return 0


def cmd_user_add(config: CenterConfig, args: argparse.Namespace) -> int:
    sessions = _sessions(config)
    with sessions() as db:
        if db.execute(select(User.id).where(User.username == args.username)).first():
            raise _only_on_the_admin_page(
                f"用户 {args.username} 已存在;重置密码或修改角色",
                f"user {args.username} already exists; a password reset or a new role",
                f"/admin/users/{args.username}",
            )
        branch_id = None
        if args.role == BRANCH_ADMIN:
            branch = db.execute(select(Branch).where(Branch.code == args.branch)).scalar_one_or_none()
            if branch is None:
                raise CommandError("a branch admin needs --branch with an existing branch code")
            branch_id = branch.id
        db.add(
            User(
                username=args.username,
                display_name=args.name or args.username,
                role=args.role,
                branch_id=branch_id,
                password_hash=hash_password(_new_password(f"password for {args.username}: ")),
            )
        )
        audit.append(db, "cli", "user.created", args.username, {"role": args.role})
        db.commit()
    print(f"user {args.username} ({args.role}) created")
    return 0


def cmd_staff_add(config: CenterConfig, args: argparse.Namespace) -> int:
    sessions = _sessions(config)
    with sessions() as db:
        branch = db.execute(select(Branch).where(Branch.code == args.branch)).scalar_one_or_none()
        if branch is None:
            raise CommandError(f"unknown branch {args.branch}")
        db.add(
            Staff(
                code=args.code,
                name=args.name,
                role=args.role,
                branch_id=branch.id,
                password_hash=hash_password(_new_password(f"password for staff {args.code}: ")),
            )
        )
        audit.append(db, "cli", "staff.created", args.code, {"branch": args.branch, "role": args.role})
        db.commit()
    print(f"staff {args.code} created")
    return 0


def cmd_product_type_add(config: CenterConfig, args: argparse.Namespace) -> int:
    years = {f: getattr(args, f) for f in YEAR_FIELDS}
    low = below_minimum(years, config.retention.minimum_years)
    if low:
        raise CommandError(minimum_message(low[0], years[low[0]], config.retention.minimum_years))
    sessions = _sessions(config)
    with sessions() as db:
        if db.execute(select(ProductType.id).where(ProductType.code == args.code)).first():
            raise _only_on_the_admin_page(
                f"业务类型 {args.code} 已存在;修改保存规则",
                f"business type {args.code} already exists; a change of its retention rule",
                f"/admin/product-types/{args.code}",
            )
        db.add(ProductType(code=args.code, name=args.name, retention_rule=args.rule, **years))
        audit.append(db, "cli", "product_type.created", args.code, {"rule": args.rule, **years})
        db.commit()
    print(f"product type {args.code} created")
    return 0


def cmd_product_add(config: CenterConfig, args: argparse.Namespace) -> int:
    sessions = _sessions(config)
    with sessions() as db:
        ptype = db.execute(select(ProductType).where(ProductType.code == args.type)).scalar_one_or_none()
        if ptype is None:
            raise CommandError(f"unknown product type {args.type}")
        maturity = date.fromisoformat(args.maturity) if args.maturity else None
        if ptype.retention_rule == "fixed_term" and maturity is None and args.term_days is None:
            raise CommandError("a fixed-term product needs --maturity or --term-days")
        db.add(
            Product(
                code=args.code,
                name=args.name,
                product_type_id=ptype.id,
                term_days=args.term_days,
                maturity_date=maturity,
                risk_level=args.risk,
                disclosure_script=args.script,
                required_markers=json.dumps(args.marker, ensure_ascii=False),
                min_duration_s=args.min_duration,
            )
        )
        audit.append(
            db,
            "cli",
            "product.created",
            args.code,
            {"type": args.type, "required_markers": args.marker, "min_duration_s": args.min_duration},
        )
        db.commit()
    print(f"product {args.code} created")
    return 0


def cmd_audit_verify(config: CenterConfig, args: argparse.Namespace) -> int:
    from center_platform.audit.anchor import stored_checkpoints

    sessions = make_session_factory(make_engine(config.database_url()), config.session_info())
    with open_store(config) as store, sessions() as db:
        anchors = audit.Anchors(stored_checkpoints(store, config.audit.checkpoint_prefix), config.audit_key())
        problems = audit.verify_chain(db, anchors=anchors)
    if not problems:
        print(f"audit trail intact ({len(anchors.checkpoints)} checkpoints in the store agree)")
        return 0
    for p in problems:
        print(f"audit event {p.event_id}: {p.problem}")
    return 1


def cmd_expiry_run(config: CenterConfig, args: argparse.Namespace) -> int:
    from center_platform.retention.expiry import run_expiry

    if args.limit is not None and args.limit < 1:
        raise CommandError("--limit must be at least 1")
    sessions = _sessions(config)
    with open_store(config) as store:
        report = run_expiry(
            sessions, store, dry_run=args.dry_run, limit=args.limit, batch_size=config.expiry.batch_size, actor="cli"
        )
    tz = config.server.timezone
    if args.dry_run:
        for c in report.due:
            print(
                f"would delete {c.clip_id}  retained until {c.retain_until.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M} ({c.reason})"
            )
        print(f"{len(report.due)} clip(s) due")
        return 0
    if not report.ran:
        print("another expiry run holds the lock; nothing done")
        return 0
    for r in report.refused:
        print(f"refused by the store: {r.clip_id}: {'; '.join(r.problems)}")
    print(f"{len(report.deleted)} deleted, {len(report.refused)} refused, {report.batches} batch(es)")
    return 1 if report.refused else 0


def cmd_reconcile_run(config: CenterConfig, args: argparse.Namespace) -> int:
    from center_platform.reconciliation.runner import ReconciliationBusy, RunRequest, run_days, settings_of

    try:
        first = date.fromisoformat(args.day)
        last = date.fromisoformat(args.last_day) if args.last_day else first
    except ValueError as exc:
        raise CommandError(f"--day/--last-day: {exc}") from exc
    if last < first:
        raise CommandError("--last-day is before --day")
    days = tuple(date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1))
    try:
        runs = run_days(_sessions(config), RunRequest(days, "cli"), settings_of(config.reconciliation))
    except ReconciliationBusy:
        print("another reconciliation run holds the lock; nothing done")
        return 1
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    for r in runs:
        c = r.counts
        print(
            f"{r.day}: {c.sales} sales, {c.recorded} recorded ({c.late} late), {c.missed} missed, "
            f"{c.not_uploaded} not uploaded, {c.cancelled_sales} cancelled, {c.unsold} recordings without a sale "
            f"({r.seconds:.1f} s)"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m center_platform", description="Center archive for sales dual-recording evidence."
    )
    parser.add_argument("--config", type=Path, help="center configuration file (TOML); built-in defaults if omitted")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("serve", help="run the center (API and UI); starts embedded storage when configured").set_defaults(
        fn=cmd_serve
    )
    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="migrate the database to the newest schema").set_defaults(fn=cmd_db_upgrade)

    branch = sub.add_parser("branch", help="branches").add_subparsers(dest="branch_command", required=True)
    add = branch.add_parser("add", help="enrol a branch; prints its API secret")
    add.add_argument("--code", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--timezone", default="Asia/Shanghai")
    add.add_argument(
        "--public-key", required=True, help="the branch's Ed25519 manifest key (python -m branch_agent keys show)"
    )
    add.add_argument("--counter", action="append", default=[], help="counter code (repeatable)")
    add.set_defaults(fn=cmd_branch_add)

    user = sub.add_parser("user", help="center users").add_subparsers(dest="user_command", required=True)
    uadd = user.add_parser("add", help=f"create a user; password from ${ENV_NEW_PASSWORD} or a prompt")
    uadd.add_argument("--username", required=True)
    uadd.add_argument("--name", default="")
    uadd.add_argument("--role", required=True, choices=ROLES)
    uadd.add_argument("--branch", help="branch code, for branch admins")
    uadd.set_defaults(fn=cmd_user_add)

    staff = sub.add_parser("staff", help="branch staff").add_subparsers(dest="staff_command", required=True)
    sadd = staff.add_parser("add", help=f"create a staff member; password from ${ENV_NEW_PASSWORD} or a prompt")
    sadd.add_argument("--code", required=True)
    sadd.add_argument("--name", required=True)
    sadd.add_argument("--branch", required=True)
    sadd.add_argument("--role", default=RELATIONSHIP_MANAGER, choices=STAFF_ROLES)
    sadd.set_defaults(fn=cmd_staff_add)

    ptype = sub.add_parser("product-type", help="business types and retention rules").add_subparsers(
        dest="pt_command", required=True
    )
    ptadd = ptype.add_parser("add")
    ptadd.add_argument("--code", required=True)
    ptadd.add_argument("--name", required=True)
    ptadd.add_argument("--rule", required=True, choices=RULES)
    for name, default in zip(YEAR_FIELDS, (2, 5, 2, 2), strict=True):
        ptadd.add_argument(
            "--" + name.replace("_", "-"), dest=name, type=int, default=default, help=f"default {default}"
        )
    ptadd.set_defaults(fn=cmd_product_type_add)

    product = sub.add_parser("product", help="products").add_subparsers(dest="product_command", required=True)
    padd = product.add_parser("add")
    padd.add_argument("--code", required=True)
    padd.add_argument("--name", required=True)
    padd.add_argument("--type", required=True)
    padd.add_argument("--term-days", type=int)
    padd.add_argument("--maturity", help="YYYY-MM-DD")
    padd.add_argument("--risk", default="R2", choices=("R1", "R2", "R3", "R4", "R5"))
    padd.add_argument("--script", default="", help="risk-disclosure script shown to the manager")
    padd.add_argument(
        "--marker", action="append", default=[], help="a moment the recording must show, in order (repeatable)"
    )
    padd.add_argument("--min-duration", type=int, default=0, help="shortest recording in seconds (0: none)")
    padd.set_defaults(fn=cmd_product_add)

    aud = sub.add_parser("audit", help="audit trail").add_subparsers(dest="audit_command", required=True)
    aud.add_parser("verify", help="check the hash chain; exit 1 on any altered or removed row").set_defaults(
        fn=cmd_audit_verify
    )

    exp = sub.add_parser("expiry", help="retention expiry").add_subparsers(dest="expiry_command", required=True)
    erun = exp.add_parser("run", help="delete clips whose retention has ended, with a certificate each")
    erun.add_argument("--dry-run", action="store_true", help="list what would be deleted; change nothing")
    erun.add_argument("--limit", type=int, help="at most this many clips")
    erun.set_defaults(fn=cmd_expiry_run)

    from center_platform.archive import clip_quality_cli
    from center_platform.operations import backup, capacity, rebuild

    clip_quality_cli.register(sub)
    backup.register(sub)
    rebuild.register(sub)
    capacity.register(sub)

    rec = sub.add_parser("reconcile", help="sales against recordings").add_subparsers(
        dest="reconcile_command", required=True
    )
    rrun = rec.add_parser("run", help="reconcile one day (or --last-day for a range) of the sales ledger")
    rrun.add_argument("--day", required=True, help="YYYY-MM-DD, the branches' calendar day")
    rrun.add_argument("--last-day", help="YYYY-MM-DD, reconcile every day from --day to this one")
    rrun.set_defaults(fn=cmd_reconcile_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        config = load_center_config(args.config)
        return int(args.fn(config, args))
    except (ConfigError, CommandError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
