"""The `oms` command: serve the node, and the operator's tools (config, doctor, backup,
accounts, import).
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode

from oms import __version__
from oms.audit import CLI
from oms.config import SETTINGS, Settings, load_settings
from oms.context import AppContext, DataDirLock, free_megabytes, open_context, prepare_data_dir
from oms.db.backup import DATABASE_FILE, create_backup, restore_backup
from oms.db.database import Database
from oms.db.migrations import known_migrations
from oms.errors import InvalidRequest, OmsError, StartupError
from oms.jobs.worker import JobWorker
from oms.library.demo import DemoSeed, seed_demo
from oms.library.importer import (
    FileOutcome,
    Importer,
    ImportOptions,
    MediaOutcome,
    ReleaseOutcome,
    find_artist,
    wait_for_media,
)
from oms.library.index import reindex
from oms.library.records import LICENSES
from oms.logs import configure_logging
from oms.media.ffmpeg_binary import locate_ffmpeg
from oms.media.probe import ProbeLimits
from oms.pds import accounts, sessions
from oms.pds.bootstrap import issue_setup_token
from oms.pds.keystore import KeyStore, check_key_folder
from oms.pds.lexicons import load_lexicons
from oms.pds.password_resets import ResetLink, issue_reset_link
from oms.pds.plc import plc_registration
from oms.permissions import ROLES
from oms.resources import lexicons_dir

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace, Settings], int]


def _setting_flag(value: str) -> tuple[str, str]:
    key, sep, raw = value.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(
            f"--set takes KEY=VALUE (e.g. server.port=8080), not {value!r}"
        )
    return key.strip(), raw


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oms",
        description="Open Music Streaming: a music node for an artist collective.",
        epilog="Settings come from defaults < etc/oms.toml < OMS_* environment < flags. "
        "See 'oms config' for the effective values and their origins.",
    )
    parser.add_argument("--version", action="version", version=f"oms {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="config file (default etc/oms.toml, or OMS_CONFIG)",
    )
    common.add_argument("--data-dir", type=Path, metavar="DIR", help="data directory (data.dir)")
    common.add_argument(
        "--set",
        type=_setting_flag,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any setting, e.g. --set log.format=json (repeatable)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", parents=[common], help="run the node (web, XRPC, HLS)")
    serve.add_argument("--host", help="address to listen on (server.host)")
    serve.add_argument("--port", type=int, help="port to listen on (server.port)")
    serve.add_argument("--public-url", help="the node's public origin (server.public_url)")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="first publish a short album of generated music under a demo artist (@demo), "
        "unless it is there already, so the node has something to play",
    )
    serve.set_defaults(handler=cmd_serve)

    init = commands.add_parser(
        "init", parents=[common], help="create the data directory, keys and database, then exit"
    )
    init.set_defaults(handler=cmd_init)

    config = commands.add_parser(
        "config", parents=[common], help="print the effective settings and where each came from"
    )
    config.add_argument("--json", action="store_true", help="print JSON")
    config.set_defaults(handler=cmd_config)

    doctor = commands.add_parser(
        "doctor",
        parents=[common],
        help="check ffmpeg, disk space, data-dir permissions, the port and the database",
    )
    doctor.add_argument("--only", choices=[name for name, _ in DOCTOR_CHECKS], help="one check")
    doctor.set_defaults(handler=cmd_doctor)

    backup = commands.add_parser(
        "backup", parents=[common], help="write a consistent backup archive (safe while serving)"
    )
    backup.add_argument("path", type=Path, help="archive to write, e.g. oms-2026-11-21.tar")
    backup.set_defaults(handler=cmd_backup)

    restore = commands.add_parser(
        "restore", parents=[common], help="restore a backup archive into the data directory"
    )
    restore.add_argument("path", type=Path, help="archive written by 'oms backup'")
    restore.add_argument(
        "--force", action="store_true", help="restore over a non-empty data dir (kept aside)"
    )
    restore.set_defaults(handler=cmd_restore)

    reindex_command = commands.add_parser(
        "reindex", parents=[common], help="rebuild the catalog index from the node's repositories"
    )
    reindex_command.set_defaults(handler=cmd_reindex)

    importing = commands.add_parser(
        "import",
        parents=[common],
        help="publish a folder of audio (recursive) as an artist's tracks and releases",
    )
    importing.add_argument("folder", type=Path, metavar="DIR", help="folder of audio files")
    importing.add_argument(
        "--artist", required=True, metavar="HANDLE", help="the account to publish as"
    )
    importing.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="files (and transcodes) worked on at once (default: one per CPU core)",
    )
    importing.add_argument(
        "--license",
        choices=LICENSES,
        default="all-rights-reserved",
        metavar="LICENSE",
        help=f"licence of the tracks: {', '.join(LICENSES)} (default: all-rights-reserved)",
    )
    importing.add_argument(
        "--unlisted", action="store_true", help="publish the tracks unlisted (default: public)"
    )
    importing.add_argument(
        "--wait",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="wait until the tracks are transcoded, by this command when no node serves the "
        "data dir, else by the node (default: --wait)",
    )
    importing.add_argument(
        "--dry-run", action="store_true", help="check and read every file, publish nothing"
    )
    importing.set_defaults(handler=cmd_import)

    account = commands.add_parser("account", help="manage the node's accounts")
    account_commands = account.add_subparsers(
        dest="account_command", metavar="ACTION", required=True
    )
    create = account_commands.add_parser("create", parents=[common], help="create an account")
    create.add_argument("--handle", required=True, help="a name (alice) or a full handle")
    create.add_argument(
        "--password",
        required=True,
        help="at least security.min_password_length characters, not a common password",
    )
    create.add_argument("--role", choices=ROLES, default="fan", help="default: fan")
    create.add_argument("--email", help="contact address (optional)")
    create.set_defaults(handler=cmd_account_create)
    listing = account_commands.add_parser("list", parents=[common], help="list accounts")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=cmd_account_list)
    for action, status, text in (
        ("disable", "disabled", "stop an account from signing in"),
        ("enable", "active", "let a disabled account sign in again"),
    ):
        sub = account_commands.add_parser(action, parents=[common], help=text)
        sub.add_argument("account", metavar="HANDLE_OR_DID")
        sub.set_defaults(handler=cmd_account_status, status=status)
    reset = account_commands.add_parser(
        "reset-password", parents=[common], help="set a new password (random if not given)"
    )
    reset.add_argument("account", metavar="HANDLE_OR_DID")
    reset.add_argument("--password", help="the new password; omitted: a random one is printed")
    reset.set_defaults(handler=cmd_account_reset_password)
    invite = account_commands.add_parser(
        "invite", parents=[common], help="create an invite code for signing up (createAccount)"
    )
    invite.add_argument(
        "--uses", type=int, default=1, metavar="N", help="accounts the code can open (default 1)"
    )
    invite.add_argument(
        "--role", choices=ROLES, default="fan", help="role of the accounts it opens (default: fan)"
    )
    invite.set_defaults(handler=cmd_account_invite)
    role = account_commands.add_parser("role", parents=[common], help="change an account's role")
    role.add_argument("account", metavar="HANDLE_OR_DID")
    role.add_argument("role", choices=ROLES)
    role.set_defaults(handler=cmd_account_role)
    link = account_commands.add_parser(
        "reset-link",
        parents=[common],
        help="print a one-time password-reset link (valid security.reset_link_hours)",
    )
    link.add_argument("account", metavar="HANDLE_OR_DID")
    link.set_defaults(handler=cmd_account_reset_link)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = dict(args.set)
    for flag, key in (
        ("data_dir", "data.dir"),
        ("host", "server.host"),
        ("port", "server.port"),
        ("public_url", "server.public_url"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            overrides[key] = str(value)
    return load_settings(config_file=args.config, overrides=overrides)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
        handler: Handler = args.handler
        return handler(args, settings)
    except OmsError as e:
        print(f"oms: error: {e.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Whoever read the output went away (`oms import … | head`): stop without a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# --- serve and init -------------------------------------------------------------------------


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY only on such sockets, and without it
    # Nagle's algorithm plus delayed ACKs add ~40 ms to every response.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise StartupError(
                f"port {port} on {host} is already in use; stop what uses it or choose another "
                "port (--port, OMS_SERVER_PORT)"
            ) from e
        raise StartupError(f"cannot listen on {host}:{port}: {e.strerror}") from e
    sock.set_inheritable(True)
    return sock


def _preflight(settings: Settings) -> None:
    """The start-up failures an operator can fix, each reported as one line before serving."""
    prepare_data_dir(settings.data_dir)
    if DataDirLock(settings.data_dir).held_elsewhere():
        raise StartupError(
            f"the data directory {settings.data_dir} is in use by another running node"
        )
    locate_ffmpeg(str(settings["media.ffmpeg"]))


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from oms.app import create_app, signal_stopping

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            signal_stopping(app)
            # uvicorn re-raises a caught signal once it has shut down, so a clean stop would end
            # as "killed by SIGTERM"; a node that stopped cleanly exits 0 instead.
            self._captured_signals.clear()

    configure_logging(str(settings["log.level"]), str(settings["log.format"]))
    _preflight(settings)
    sock = _bind(str(settings["server.host"]), int(settings["server.port"]))
    if args.demo:
        try:
            _seed_demo(settings)
        except BaseException:
            sock.close()
            raise
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=str(settings["server.forwarded_allow_ips"]),
        timeout_graceful_shutdown=int(float(settings["server.shutdown_timeout"])),
        lifespan="on",
        ws="websockets-sansio",
        server_header=False,
    )
    server = Server(config)
    server.run(sockets=[sock])
    return 0 if server.started else 1


def _seed_demo(settings: Settings) -> None:
    """`serve --demo`: publish the demo album before the node starts; the node then indexes
    and transcodes it like any import."""

    async def run() -> DemoSeed:
        context = await open_context(settings)
        try:

            async def make_artist(name: str) -> accounts.Account:
                # nobody signs in as the demo: its password is never shown
                password = secrets.token_urlsafe(24)
                return await _create_account(
                    context.db, context.keys, settings, name=name, password=password, role="artist"
                )

            return await seed_demo(
                _importer(context, settings),
                hostname=settings.hostname,
                create_account=make_artist,
                jobs=os.cpu_count() or 1,
            )
        finally:
            await context.close()

    print("demo: looking for the demo album, made on the first start (a few seconds)", flush=True)
    seed = asyncio.run(run())
    tracks = f"{_count(seed.tracks, 'track')} by @{seed.handle}"
    if seed.published:
        print(
            f"demo: published {tracks}; they play at {settings.public_url} once transcoded",
            flush=True,
        )
    else:
        print(f"demo: already there: {tracks}; nothing published", flush=True)


@asynccontextmanager
async def _opened(settings: Settings) -> AsyncIterator[tuple[Database, KeyStore]]:
    """The database and keys, for commands that work on the data dir directly."""
    prepare_data_dir(settings.data_dir)
    keys = KeyStore(settings.data_dir / "keys")
    keys.prepare()
    keys.node_key()
    db = await Database.open(settings.data_dir / DATABASE_FILE)
    try:
        yield db, keys
    finally:
        await db.close()


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> str | None:
        async with _opened(settings) as (db, _):
            return await issue_setup_token(db)

    token = asyncio.run(run())
    print(f"data directory ready: {settings.data_dir}")
    if token:
        print(f"create the first admin, once, at {settings.public_url}/setup?token={token}")
        print("(valid until used or until the node starts and prints a newer link)")
    return 0


# --- config and doctor ----------------------------------------------------------------------


def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    rows = []
    for setting in SETTINGS:
        value = settings[setting.key]
        shown: Any = "***" if setting.secret and value else value
        if isinstance(shown, Path):
            shown = str(shown)
        rows.append((setting.key, shown, settings.origins[setting.key]))
    if args.json:
        print(json.dumps({k: {"value": v, "origin": o} for k, v, o in rows}, indent=2))
        return 0
    print(f"# config file: {settings.config_file or 'none (etc/oms.toml not found)'}")
    width = max(len(k) for k, _, _ in rows)
    for key, value, origin in rows:
        print(f"{key:<{width}} = {json.dumps(value):<32} # {origin}")
    return 0


def _check_ffmpeg(settings: Settings) -> str:
    return locate_ffmpeg(str(settings["media.ffmpeg"])).describe()


def _check_data_dir(settings: Settings) -> str:
    prepare_data_dir(settings.data_dir)
    keys = check_key_folder(settings.data_dir / "keys")
    return f"{settings.data_dir} is writable; keys: {keys}"


def _check_disk(settings: Settings) -> str:
    minimum = int(settings["data.min_free_mb"])
    free = free_megabytes(settings.data_dir if settings.data_dir.exists() else Path.cwd())
    if free < minimum:
        raise StartupError(f"only {free} MB free under {settings.data_dir} (minimum {minimum} MB)")
    return f"{free} MB free"


def _check_port(settings: Settings) -> str:
    host, port = str(settings["server.host"]), int(settings["server.port"])
    if DataDirLock(settings.data_dir).held_elsewhere():
        return f"{host}:{port}: this data directory's node is running"
    _bind(host, port).close()
    return f"{host}:{port} is free"


def _check_database(settings: Settings) -> str:
    path = settings.data_dir / DATABASE_FILE
    if not path.exists():
        return "not created yet ('oms init' or 'oms serve' creates it)"
    import sqlite3

    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        problems = [r[0] for r in connection.execute("PRAGMA integrity_check").fetchall()]
        version = connection.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise StartupError(f"{path} is not a readable database: {e}") from e
    finally:
        connection.close()
    if problems != ["ok"]:
        raise StartupError(f"{path} is damaged: {problems[0]}")
    latest = len(known_migrations())
    pending = f", {latest - version} migrations pending" if version < latest else ""
    return f"integrity ok, schema version {version}{pending}"


DOCTOR_CHECKS: tuple[tuple[str, Callable[[Settings], str]], ...] = (
    ("ffmpeg", _check_ffmpeg),
    ("data-dir", _check_data_dir),
    ("disk", _check_disk),
    ("port", _check_port),
    ("database", _check_database),
)


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    failed = 0
    for name, check in DOCTOR_CHECKS:
        if args.only and name != args.only:
            continue
        try:
            print(f"ok    {name}: {check(settings)}")
        except OmsError as e:
            failed += 1
            print(f"FAIL  {name}: {e.message}")
    return 1 if failed else 0


# --- backup and restore ---------------------------------------------------------------------


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    manifest = create_backup(settings.data_dir, args.path)
    folders = ", ".join(manifest["folders"]) if isinstance(manifest["folders"], list) else ""
    print(f"backup written to {args.path} (database{', ' + folders if folders else ''})")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    if DataDirLock(settings.data_dir).held_elsewhere():
        raise StartupError(f"stop the node serving {settings.data_dir} before restoring into it")
    restore_backup(args.path, settings.data_dir, force=args.force)
    print(f"restored {args.path} into {settings.data_dir}")
    return 0


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> int:
        async with _opened(settings) as (db, _):
            return await reindex(db, load_lexicons(lexicons_dir()))

    count = asyncio.run(run())
    print(f"catalog rebuilt from {count} records")
    return 0


# --- import ---------------------------------------------------------------------------------


def _print_file(outcome: FileOutcome) -> None:
    print(f"{outcome.status:<10} {outcome.path}: {outcome.detail}", flush=True)


def _print_release(outcome: ReleaseOutcome) -> None:
    detail = f": {outcome.detail}" if outcome.detail else ""
    print(
        f"release    {outcome.title!r} {outcome.status} ({outcome.tracks} tracks){detail}",
        flush=True,
    )


def _importer(context: AppContext, settings: Settings) -> Importer:
    return Importer(
        db=context.db,
        repos=context.repos,
        blobs_dir=context.blobs_dir,
        ffmpeg=context.ffmpeg.path,
        probe_limits=context.media.probe_limits if context.media else ProbeLimits(),
        max_bytes=int(settings["pds.blob_max_mb"]) * 1024 * 1024,
    )


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    if args.jobs < 1:
        raise InvalidRequest("--jobs takes a number from 1")
    options = ImportOptions(
        license=args.license,
        visibility="unlisted" if args.unlisted else "public",
        jobs=args.jobs,
        dry_run=args.dry_run,
    )
    # With no node serving the data dir, this command takes its lock and runs the indexer and
    # the media jobs itself until its tracks are playable; else the serving node does them.
    serving_elsewhere = DataDirLock(settings.data_dir).held_elsewhere()
    run_jobs = args.wait and not args.dry_run and not serving_elsewhere

    async def run() -> int:
        context = await open_context(settings, serving=run_jobs)
        worker: JobWorker | None = None
        interrupted = True
        try:
            importer = _importer(context, settings)
            artist = await find_artist(context.db, context.repos, args.artist, settings.hostname)
            if run_jobs and context.catalog_indexer is not None:
                worker = JobWorker(context.db, context.job_handlers, args.jobs)
                worker.start()
                await context.catalog_indexer.start()
            report = await importer.import_folder(
                artist, args.folder, options, on_file=_print_file, on_release=_print_release
            )
            skipped, failed = report.count("skipped"), report.count("failed")
            done = report.count("ok") if args.dry_run else len(report.published)
            print(
                f"{len(report.files)} files: {done} {'ok' if args.dry_run else 'published'}, "
                f"{skipped} skipped, {failed} failed; {_count(len(report.releases), 'release')}",
                flush=True,
            )
            media_failed = 0
            if args.wait and report.tracks and not args.dry_run:
                where = "here" if run_jobs else "by the node serving this data dir"
                print(f"transcoding {len(report.tracks)} tracks {where}...", flush=True)

                def settled(outcome: MediaOutcome) -> None:
                    reason = f": {outcome.error}" if outcome.error else ""
                    print(f"{outcome.status:<10} {outcome.path}{reason}", flush=True)

                def node_serving() -> bool:
                    return DataDirLock(settings.data_dir).held_elsewhere()

                media = await wait_for_media(
                    context.db,
                    artist.did,
                    report.tracks,
                    on_settled=settled,
                    worker_alive=None if run_jobs else node_serving,
                )
                media_failed = sum(1 for m in media if m.status != "ready")
                ready = len(media) - media_failed
                print(f"{ready} of {len(report.tracks)} tracks ready to play")
                if len(media) < len(report.tracks):
                    print(
                        "the node serving this data dir stopped; the other tracks are "
                        "transcoded when a node next starts ('oms serve')"
                    )
            elif report.published and not serving_elsewhere and not args.dry_run:
                print("the tracks are transcoded when the node next starts ('oms serve')")
            interrupted = False
            return 1 if report.failed or media_failed else 0
        finally:
            if context.catalog_indexer is not None:
                await context.catalog_indexer.stop()
            if worker is not None:
                # Interrupted: running transcodes go back to the queue for the next start.
                await worker.stop(0.0 if interrupted else 5.0)
            await context.close()

    return asyncio.run(run())


# --- accounts -------------------------------------------------------------------------------


async def _create_account(
    db: Database,
    keys: KeyStore,
    settings: Settings,
    *,
    name: str,
    password: str,
    role: str,
    email: str | None = None,
) -> accounts.Account:
    """An account made by the operator (the audit log says so), with the node's settings."""
    return await accounts.create_account(
        db,
        keys,
        name=name,
        password=password,
        role=role,
        hostname=settings.hostname,
        email=email,
        plc=plc_registration(str(settings["pds.plc_directory"]), keys, settings.public_url),
        actor=CLI,
        min_password_length=int(settings["security.min_password_length"]),
    )


def cmd_account_create(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> accounts.Account:
        async with _opened(settings) as (db, keys):
            return await _create_account(
                db,
                keys,
                settings,
                name=args.handle,
                password=args.password,
                role=args.role,
                email=args.email,
            )

    account = asyncio.run(run())
    print(f"created {account.role} @{account.handle} ({account.did})")
    return 0


def cmd_account_list(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> list[accounts.Account]:
        async with _opened(settings) as (db, _):
            return await accounts.list_accounts(db)

    found = asyncio.run(run())
    if args.json:
        print(json.dumps([vars(a) for a in found], indent=2))
        return 0
    if not found:
        print("no accounts yet")
    for a in found:
        print(f"{a.handle:<32} {a.role:<7} {a.status:<11} {a.did}")
    return 0


def cmd_account_status(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> accounts.Account:
        async with _opened(settings) as (db, _):
            return await accounts.set_status(db, args.account, args.status, actor=CLI)

    account = asyncio.run(run())
    print(f"@{account.handle} is now {account.status}")
    return 0


def cmd_account_reset_password(args: argparse.Namespace, settings: Settings) -> int:
    password = args.password or secrets.token_urlsafe(12)

    async def run() -> accounts.Account:
        async with _opened(settings) as (db, _):
            return await accounts.reset_password(
                db,
                args.account,
                password,
                actor=CLI,
                min_password_length=int(settings["security.min_password_length"]),
            )

    account = asyncio.run(run())
    print(f"password of @{account.handle} changed")
    if not args.password:
        print(f"new password: {password}")
    return 0


def cmd_account_invite(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> str:
        async with _opened(settings) as (db, _):
            created = await sessions.create_invite_codes(
                db,
                hostname=settings.hostname,
                created_by="admin",
                use_count=args.uses,
                role=args.role,
                actor=CLI,
            )
        return created[0][1][0]

    code = asyncio.run(run())
    print(code)
    return 0


def cmd_account_role(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> accounts.Account:
        async with _opened(settings) as (db, _):
            return await accounts.set_role(db, args.account, args.role, actor=CLI)

    account = asyncio.run(run())
    print(f"@{account.handle} is now {account.role}")
    return 0


def cmd_account_reset_link(args: argparse.Namespace, settings: Settings) -> int:
    async def run() -> ResetLink:
        async with _opened(settings) as (db, _):
            return await issue_reset_link(
                db, args.account, actor=CLI, hours=int(settings["security.reset_link_hours"])
            )

    link = asyncio.run(run())
    print(
        f"password-reset link for @{link.account.handle} (works once, for "
        f"{settings['security.reset_link_hours']} hours):"
    )
    print(f"  {settings.public_url}/reset?{urlencode({'token': link.token})}")
    return 0
