"""Local infrastructure launcher: a real Kafka broker (KRaft) and a MongoDB-wire server, no Docker.

Usage: python deploy/local/infra.py {up,down,status} [--only kafka|mongo]

Environment (all optional):
  CREDREG_INFRA_DIR              state folder (data, logs, pid files); default .local/infra
  CREDREG_KAFKA_PORT             broker port; default 9092
  CREDREG_KAFKA_CONTROLLER_PORT  KRaft controller port; default 9093
  CREDREG_KAFKA_SASL_PORT        also a SASL_PLAINTEXT listener on this port (PLAIN and
                                 SCRAM-SHA-512, user LOCAL_SASL_USER); default none. SCRAM
                                 credentials are written when the storage is formatted (a new
                                 state folder); PLAIN works on any.
  CREDREG_MONGO_PORT             MongoDB-wire port; default 27017
  CREDREG_CACHE_DIR              downloads and builds; default ~/.cache/credreg
  CREDREG_FERRETDB_PPROF         address for FerretDB's Go /debug/pprof (profiling); default off
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
FERRETDB_SOURCE = HERE / "ferretdb"
KAFKA_POM = HERE / "kafka" / "pom.xml"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 20.0
# The one user of the optional SASL listener: a loopback test broker's, never a real secret.
LOCAL_SASL_USER = "credreg-local"
LOCAL_SASL_PASSWORD = "credreg-local-sasl-password"  # noqa: S105 - a local test broker's


class InfraError(Exception):
    """A launcher step failed; the message is one line for the operator."""


@dataclass(frozen=True)
class Layout:
    """Where the launcher keeps state and which ports it uses."""

    state: Path
    cache: Path
    kafka_port: int
    controller_port: int
    mongo_port: int
    kafka_sasl_port: int | None = None

    @classmethod
    def from_env(cls) -> Layout:
        """Read the layout from CREDREG_* environment variables."""
        state = Path(os.environ.get("CREDREG_INFRA_DIR", REPO / ".local" / "infra"))
        cache = Path(os.environ.get("CREDREG_CACHE_DIR", Path.home() / ".cache" / "credreg"))
        return cls(
            state=state.resolve(),
            cache=cache.resolve(),
            kafka_port=int(os.environ.get("CREDREG_KAFKA_PORT", "9092")),
            controller_port=int(os.environ.get("CREDREG_KAFKA_CONTROLLER_PORT", "9093")),
            mongo_port=int(os.environ.get("CREDREG_MONGO_PORT", "27017")),
            kafka_sasl_port=int(sasl)
            if (sasl := os.environ.get("CREDREG_KAFKA_SASL_PORT"))
            else None,
        )

    @property
    def kafka_bootstrap(self) -> str:
        """Bootstrap servers string for clients."""
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def kafka_sasl_bootstrap(self) -> str | None:
        """Bootstrap servers of the SASL_PLAINTEXT listener, if there is one."""
        return f"127.0.0.1:{self.kafka_sasl_port}" if self.kafka_sasl_port else None

    @property
    def mongodb_uri(self) -> str:
        """Connection string for clients."""
        return f"mongodb://127.0.0.1:{self.mongo_port}/"


def log(message: str) -> None:
    """Print one progress line."""
    print(f"[infra] {message}", flush=True)


def require_tool(name: str, hint: str) -> str:
    """Return the path of a tool or fail with one line saying what to install."""
    path = shutil.which(name)
    if path is None:
        raise InfraError(f"'{name}' is not on PATH: install {hint}")
    return path


# --- process bookkeeping -------------------------------------------------------------------


def pid_file(layout: Layout, name: str) -> Path:
    """The pid file of a component."""
    return layout.state / f"{name}.pid"


def running_pid(layout: Layout, name: str) -> int | None:
    """The pid of a component if its process is alive."""
    path = pid_file(layout, name)
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid if not _is_zombie(pid) else None


def _is_zombie(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" in status


def spawn(layout: Layout, name: str, argv: list[str], cwd: Path) -> int:
    """Start a component in its own session, detached, logging to the state folder."""
    log_path = layout.state / f"{name}.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file(layout, name).write_text(str(process.pid))
    return process.pid


SERVER_PROGRAMS = ("java", "mongod", "credreg-ferretdb")


def processes_under(state: Path) -> list[int]:
    """Server pids whose command line names the state folder (strays without pid files)."""
    marker = str(state)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        program = Path(argv[0]).name
        is_server = any(program.startswith(name) for name in SERVER_PROGRAMS)
        if is_server and marker in " ".join(argv) and not _is_zombie(int(entry.name)):
            found.append(int(entry.name))
    return found


def stop(layout: Layout, name: str) -> None:
    """Stop a component: SIGTERM its process group, then SIGKILL if it does not exit."""
    pid = running_pid(layout, name)
    if pid is not None:
        _signal_group(pid, signal.SIGTERM)
        if not _wait_gone([pid], STOP_TIMEOUT_S):
            log(f"{name} did not stop on SIGTERM; killing it")
            _signal_group(pid, signal.SIGKILL)
            _wait_gone([pid], 5.0)
        log(f"{name} stopped (pid {pid})")
    pid_file(layout, name).unlink(missing_ok=True)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)


def _wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if Path(f"/proc/{p}").exists() and not _is_zombie(p)]
        if not alive:
            return True
        time.sleep(0.2)
    return False


def wait_until(check: Callable[[], bool], what: str, pid_name: str, layout: Layout) -> None:
    """Poll a readiness check until it passes, the process dies, or the time is up."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return
        if running_pid(layout, pid_name) is None:
            tail = _log_tail(layout, pid_name)
            raise InfraError(f"{what} exited during start-up; last log lines:\n{tail}")
        time.sleep(0.5)
    raise InfraError(f"{what} did not become ready in {START_TIMEOUT_S:.0f}s: see {pid_name}.log")


def _log_tail(layout: Layout, name: str, lines: int = 15) -> str:
    try:
        return "\n".join((layout.state / f"{name}.log").read_text().splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- Kafka -----------------------------------------------------------------------------------


def kafka_classpath(layout: Layout) -> str:
    """Resolve the broker's jars from Maven Central (cached in ~/.m2) and return the classpath."""
    pom_digest = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()[:12]
    cp_file = layout.cache / f"kafka-classpath-{pom_digest}.txt"
    if cp_file.exists():
        classpath = cp_file.read_text().strip()
        if all(Path(jar).exists() for jar in classpath.split(os.pathsep)):
            return classpath
    mvn = require_tool("mvn", "Maven 3.8+ (Debian package 'maven')")
    log("resolving Kafka jars from Maven Central (first run only)")
    layout.cache.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(KAFKA_POM),
            "dependency:build-classpath",
            f"-Dmdep.outputFile={cp_file}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not cp_file.exists():
        raise InfraError(f"Maven could not resolve the Kafka jars:\n{result.stdout[-2000:]}")
    return cp_file.read_text().strip()


def kafka_properties(layout: Layout) -> str:
    """The broker's server.properties: one KRaft node that is broker and controller."""
    data = layout.state / "kafka-data"
    sasl = f",SASL://127.0.0.1:{layout.kafka_sasl_port}" if layout.kafka_sasl_port else ""
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{layout.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{layout.kafka_port},"
            f"CONTROLLER://127.0.0.1:{layout.controller_port}{sasl}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{layout.kafka_port}{sasl}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
            + (",SASL:SASL_PLAINTEXT" if sasl else ""),
            *(sasl_listener_properties() if sasl else []),
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data}",
            # The project creates its topics itself, with explicit partition counts.
            "auto.create.topics.enable=false",
            "num.partitions=3",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=3",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=3",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


def sasl_listener_properties() -> list[str]:
    """The SASL listener's mechanisms and JAAS: PLAIN (users in the JAAS line) and SCRAM-SHA-512
    (credentials in the cluster metadata, written by `storage format --add-scram`)."""
    return [
        "listener.name.sasl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512",
        "listener.name.sasl.plain.sasl.jaas.config="
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'user_{LOCAL_SASL_USER}="{LOCAL_SASL_PASSWORD}";',
        "listener.name.sasl.scram-sha-512.sasl.jaas.config="
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
    ]


LOG4J2_YAML = """Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
"""


def kafka_up(layout: Layout) -> None:
    """Start the broker unless it runs already, then wait until it answers metadata."""
    if running_pid(layout, "kafka") is not None and kafka_ready(layout):
        log(f"Kafka already running on {layout.kafka_bootstrap}")
        return
    stop(layout, "kafka")
    java = require_tool("java", "a Java 17+ runtime (Debian package 'openjdk-17-jre-headless')")
    classpath = kafka_classpath(layout)
    kafka_dir = layout.state / "kafka"
    kafka_dir.mkdir(parents=True, exist_ok=True)
    properties = kafka_dir / "server.properties"
    properties.write_text(kafka_properties(layout))
    log4j = kafka_dir / "log4j2.yaml"
    log4j.write_text(LOG4J2_YAML)
    jvm = [
        java,
        "-Xms256m",
        "-Xmx768m",
        f"-Dlog4j2.configurationFile={log4j}",
        "-Djava.awt.headless=true",
        "-cp",
        classpath,
    ]
    if not (layout.state / "kafka-data" / "meta.properties").exists():
        cluster_id = (
            subprocess.run(
                [*jvm, "kafka.tools.StorageTool", "random-uuid"],
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        scram = (
            [
                "--add-scram",
                f"SCRAM-SHA-512=[name={LOCAL_SASL_USER},password={LOCAL_SASL_PASSWORD}]",
            ]
            if layout.kafka_sasl_port
            else []
        )
        formatted = subprocess.run(
            [
                *jvm,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(properties),
                *scram,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if formatted.returncode != 0:
            raise InfraError(f"kafka storage format failed: {formatted.stdout}{formatted.stderr}")
    pid = spawn(layout, "kafka", [*jvm, "kafka.Kafka", str(properties)], kafka_dir)
    log(f"Kafka starting (pid {pid})")
    wait_until(lambda: kafka_ready(layout), "Kafka", "kafka", layout)
    log(f"Kafka ready on {layout.kafka_bootstrap}")


def kafka_ready(layout: Layout) -> bool:
    """True when the broker answers a metadata request and lists itself."""
    try:
        return asyncio.run(_kafka_metadata_ok(layout.kafka_bootstrap))
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False


async def _kafka_metadata_ok(bootstrap: str) -> bool:
    from aiokafka import AIOKafkaClient  # type: ignore[attr-defined]

    # Refused connections are expected while the broker starts; keep the output readable.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(client.bootstrap(), timeout=5)
        return bool(client.cluster.brokers())
    finally:
        await client.close()


# --- MongoDB-wire server ---------------------------------------------------------------------


FERRETDB_MODULE = "github.com/FerretDB/FerretDB"
FERRETDB_VERSION = "v1.24.0"
# FerretDB v1.24's SQLite backend looks documents up by `_id` with the expression
# `_ferretdb_sjson->'$._id'` while its unique index is on `_ferretdb_sjson->"_id"`, so SQLite
# never uses the index and every update or lookup by id scans the whole collection (30 updates/s
# at 4,000 documents). It also pushes the `_id` condition down only when it is the filter's sole
# key. These replacements fix both; the handler re-checks the full filter on every candidate, so
# pushing down `_id` alone stays correct.
# Held for the whole command, per database (each is its own SQLite file, with its own writer).
LOCK = "\n\tdefer credregLock(params.DB)()\n"
FERRETDB_PATCHES = {
    "internal/backends/sqlite/metadata/metadata.go": [
        ("IDColumn = DefaultColumn + \"->'$._id'\"", 'IDColumn = DefaultColumn + `->"_id"`'),
    ],
    "internal/backends/sqlite/collection.go": [
        ("if params.Filter.Len() == 1 {", "if params.Filter.Len() >= 1 {"),
        # `_id: {$in: [...]}` (how the registry's batched projection reads a batch's documents
        # in one round trip) is pushed down as `IN (...)` on the same indexed expression; the
        # handler still re-checks the filter on every row it gets back.
        (
            "args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}\n\t\t}\n\t}\n\n"
            "\tq += whereClause",
            "args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}\n"
            "\t\tcase *types.Document:\n"
            "\t\t\twhereClause, args = credregIDIn(v.(*types.Document))\n\t\t}\n\t}\n\n"
            "\tq += whereClause",
        ),
    ],
    # FerretDB v1 reads a document, modifies it in Go and writes it back in separate steps, so
    # concurrent updates of one document lose writes (40 concurrent $inc kept 5 to 8). MongoDB
    # makes every single-document update atomic, and credreg relies on that (DESIGN §7.4):
    # serialise FerretDB's read-modify-write commands of each database. SQLite has one writer at a
    # time per database file anyway; commands of different databases (services) go on in parallel.
    "internal/handler/msg_update.go": [
        (UPDATE_SIGNATURE := "(int32, int32, *types.Array, error) {\n", UPDATE_SIGNATURE + LOCK),
        # Each statement of an update command keeps its query's SQLite rows open until the whole
        # command returns (a `defer` inside the loop), so a bulk of a few hundred updates of
        # existing documents runs out of connections and hangs forever at 0 % CPU. Close each
        # statement's query as soon as it is done.
        (
            UPDATE_CALL := 'result, err := common.UpdateDocument(ctx, c, "update", iter, &u)\n',
            UPDATE_CALL + "\t\tcloser.Close()\n",
        ),
    ],
    "internal/handler/msg_findandmodify.go": [
        (FAM_SIGNATURE := "(*findAndModifyResult, error) {\n", FAM_SIGNATURE + LOCK),
    ],
    "internal/handler/msg_delete.go": [
        (
            DELETE_LOOP := "writeErrors := types.MakeArray(0)\n",
            DELETE_LOOP + LOCK,
        ),
    ],
    # Every SQL statement is logged at debug level through `logger.With(args...)`, which formats
    # all of its arguments (a whole document, quoted) before the level is checked: 22 % of the
    # server's CPU while the registry projected its backlog. Format them only when debug is on.
    "internal/util/fsql/tx.go": [
        ("tx.l.With(fields...).DebugContext(", "credregDebug(tx.l, fields, "),
    ],
    "internal/util/fsql/db.go": [
        ("db.l.With(fields...).DebugContext(", "credregDebug(db.l, fields, "),
    ],
    # Every iterator and document FerretDB makes is tracked for leak hunting: a pprof profile
    # entry (a stack trace under a global mutex) and a finalizer that panics if it was never
    # closed. 10 % of the server's CPU while the registry served employer searches (pprof), and
    # a leak would crash the server. Tracking becomes a check of the arguments only (credreg's
    # Track and Untrack, in a new file); the originals stay, renamed and unused.
    # A collection's drop held the metadata registry's one lock, which every query of every
    # database takes, for the whole `DROP TABLE`: dropping the registry's old view generation
    # (GBs) stalled the server for seconds. Under the lock, the collection is now forgotten, its
    # indexes dropped (their names free for a collection of the same name) and its table renamed;
    # the renamed table is dropped after the lock is released (credregCollectionDrop).
    "internal/backends/sqlite/metadata/registry.go": [
        (
            "\tr.rw.Lock()\n\tdefer r.rw.Unlock()\n\n"
            "\treturn r.collectionDrop(ctx, dbName, collectionName)\n",
            "\treturn r.credregCollectionDrop(ctx, dbName, collectionName)\n",
        ),
    ],
    "internal/util/resource/resource.go": [
        (
            "func Track(obj any, token *Token) {",
            "func credregTrackedTrack(obj any, token *Token) {",
        ),
        (
            "func Untrack(obj any, token *Token) {",
            "func credregTrackedUntrack(obj any, token *Token) {",
        ),
    ],
}
FERRETDB_NEW_FILES = {
    "internal/backends/sqlite/credreg_id_in.go": (
        "package sqlite\n\n"
        'import (\n\t"fmt"\n\t"strings"\n\n'
        '\t"github.com/FerretDB/FerretDB/internal/backends/sqlite/metadata"\n'
        '\t"github.com/FerretDB/FerretDB/internal/handler/sjson"\n'
        '\t"github.com/FerretDB/FerretDB/internal/types"\n)\n\n'
        "// credregIDIn pushes `{$in: [ids]}` on _id down to SQLite (added by credreg); an empty\n"
        "// clause (full scan, re-checked by the handler) for any other operator or value type.\n"
        "func credregIDIn(d *types.Document) (string, []any) {\n"
        '\tif d.Len() != 1 {\n\t\treturn "", nil\n\t}\n'
        '\tv, err := d.Get("$in")\n\tif err != nil {\n\t\treturn "", nil\n\t}\n'
        "\tids, ok := v.(*types.Array)\n"
        '\tif !ok || ids.Len() == 0 {\n\t\treturn "", nil\n\t}\n'
        "\targs := make([]any, 0, ids.Len())\n"
        "\tfor i := 0; i < ids.Len(); i++ {\n"
        "\t\tid, _ := ids.Get(i)\n"
        "\t\tswitch id.(type) {\n"
        "\t\tcase string, types.ObjectID:\n"
        "\t\t\tb, err := sjson.MarshalSingleValue(id)\n"
        '\t\t\tif err != nil {\n\t\t\t\treturn "", nil\n\t\t\t}\n'
        "\t\t\targs = append(args, string(b))\n"
        "\t\tdefault:\n"
        '\t\t\treturn "", nil\n'
        "\t\t}\n\t}\n"
        '\tmarks := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")\n'
        '\treturn fmt.Sprintf(" WHERE %s IN (%s)", metadata.IDColumn, marks), args\n'
        "}\n"
    ),
    "internal/util/fsql/credreg_debug.go": (
        'package fsql\n\nimport (\n\t"context"\n\t"log/slog"\n)\n\n'
        "// credregDebug logs a statement with its fields only when debug is enabled (added by\n"
        "// credreg): formatting the fields costs more than running most statements.\n"
        "func credregDebug(l *slog.Logger, fields []any, ctx context.Context, msg string) {\n"
        "\tif l.Enabled(ctx, slog.LevelDebug) {\n"
        "\t\tl.With(fields...).DebugContext(ctx, msg)\n\t}\n}\n"
    ),
    "internal/util/resource/credreg_track.go": (
        "package resource\n\n"
        "// Track checks its arguments only (added by credreg): see FERRETDB_PATCHES.\n"
        "func Track(obj any, token *Token) {\n\tcheckArgs(obj, token)\n}\n\n"
        "// Untrack checks its arguments only (added by credreg).\n"
        "func Untrack(obj any, token *Token) {\n\tcheckArgs(obj, token)\n}\n"
    ),
    "internal/backends/sqlite/metadata/credreg_collection_drop.go": (
        "package metadata\n\n"
        'import (\n\t"context"\n\t"fmt"\n\t"time"\n\n'
        '\t"github.com/FerretDB/FerretDB/internal/util/fsql"\n'
        '\t"github.com/FerretDB/FerretDB/internal/util/lazyerrors"\n)\n\n'
        "// credregCollectionDrop drops a collection without holding the registry's lock for its\n"
        "// `DROP TABLE` (added by credreg): under the lock the collection is forgotten, its\n"
        "// indexes dropped and its table renamed; the renamed table is dropped after.\n"
        "func (r *Registry) credregCollectionDrop(\n"
        "\tctx context.Context, dbName, collectionName string,\n) (bool, error) {\n"
        "\tdb, dropped, err := r.credregCollectionForget(ctx, dbName, collectionName)\n"
        "\tif db == nil || err != nil {\n\t\treturn false, err\n\t}\n\n"
        "\t// Finished even if the client goes away: a renamed table left behind is lost space.\n"
        '\tq := fmt.Sprintf("DROP TABLE %q", dropped)\n'
        "\tif _, err := db.ExecContext(context.WithoutCancel(ctx), q); err != nil {\n"
        "\t\treturn true, lazyerrors.Error(err)\n\t}\n"
        "\treturn true, nil\n}\n\n"
        "// credregCollectionForget does the part under the lock; it answers the database and\n"
        "// the table's new name (a nil database: no such collection).\n"
        "func (r *Registry) credregCollectionForget(\n"
        "\tctx context.Context, dbName, collectionName string,\n) (*fsql.DB, string, error) {\n"
        "\tr.rw.Lock()\n"
        "\tdefer r.rw.Unlock()\n\n"
        "\tdb := r.DatabaseGetExisting(ctx, dbName)\n"
        '\tif db == nil {\n\t\treturn nil, "", nil\n\t}\n'
        "\tc := r.collectionGet(dbName, collectionName)\n"
        '\tif c == nil {\n\t\treturn nil, "", nil\n\t}\n'
        "\tfor _, index := range c.Settings.Indexes {\n"
        '\t\tq := fmt.Sprintf("DROP INDEX IF EXISTS %q", c.TableName+"_"+index.Name)\n'
        "\t\tif _, err := db.ExecContext(ctx, q); err != nil {\n"
        '\t\t\treturn nil, "", lazyerrors.Error(err)\n\t\t}\n\t}\n'
        '\tdropped := fmt.Sprintf("_credreg_dropped_%d_%s", time.Now().UnixNano(), c.TableName)\n'
        '\tq := fmt.Sprintf("ALTER TABLE %q RENAME TO %q", c.TableName, dropped)\n'
        "\tif _, err := db.ExecContext(ctx, q); err != nil {\n"
        '\t\treturn nil, "", lazyerrors.Error(err)\n\t}\n'
        '\tq = fmt.Sprintf("DELETE FROM %q WHERE name = ?", metadataTableName)\n'
        "\tif _, err := db.ExecContext(ctx, q, collectionName); err != nil {\n"
        '\t\treturn nil, "", lazyerrors.Error(err)\n\t}\n'
        "\tdelete(r.colls[dbName], collectionName)\n"
        "\treturn db, dropped, nil\n}\n"
    ),
    "internal/handler/credreg_write_lock.go": (
        'package handler\n\nimport "sync"\n\n'
        "// credregLocks holds one mutex per database (added by credreg).\n"
        "var credregLocks sync.Map\n\n"
        "// credregLock makes the read-modify-write commands of one database atomic (added by\n"
        "// credreg): it locks the database's mutex and returns its unlock.\n"
        "func credregLock(db string) func() {\n"
        "\tm, _ := credregLocks.LoadOrStore(db, &sync.Mutex{})\n"
        "\tmu := m.(*sync.Mutex)\n"
        "\tmu.Lock()\n"
        "\treturn mu.Unlock\n}\n"
    ),
}


# Eighth fix (speed only), when a C compiler is there: modernc.org/sqlite is SQLite translated
# to Go, and every statement runs slower than in the C library. The pools open their
# databases with mattn/go-sqlite3 (cgo, SQLite's own C amalgamation) instead; FerretDB's
# `_pragma` URI parameters run on each new connection (credregOpen), and a unique-index
# violation is recognised from that driver's error. Without a C compiler the build keeps
# modernc.org/sqlite (CGO_ENABLED=0), as before.
FERRETDB_CGO_PATCHES = {
    "internal/backends/sqlite/metadata/pool/opendb.go": [
        (
            '\t"database/sql"\n\t"log/slog"\n\n'
            '\t_ "modernc.org/sqlite" // register database/sql driver\n',
            '\t"log/slog"\n',
        ),
        ('sql.Open("sqlite", uri)', "credregOpen(uri)"),
    ],
    "internal/backends/sqlite/collection.go": [
        ('\tsqlite3 "modernc.org/sqlite"\n\tsqlite3lib "modernc.org/sqlite/lib"\n', ""),
        ('\t"errors"\n', ""),
        (
            "var se *sqlite3.Error\n"
            "\t\t\t\tif errors.As(err, &se) && se.Code() == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE {",
            "if credregUniqueViolation(err) {",
        ),
    ],
}
FERRETDB_CGO_NEW_FILES = {
    "internal/backends/sqlite/metadata/pool/credreg_open.go": (
        "package pool\n\n"
        'import (\n\t"context"\n\t"database/sql"\n\t"database/sql/driver"\n\t"fmt"\n'
        '\t"net/url"\n\t"strings"\n\n'
        '\tsqlite3 "github.com/mattn/go-sqlite3"\n)\n\n'
        "// credregOpen opens a database with mattn/go-sqlite3 (added by credreg): the URI's\n"
        "// `_pragma` parameters, as modernc.org/sqlite takes them (`name(value)`), become a\n"
        "// driver whose connections run them first, in order.\n"
        "func credregOpen(uri string) (*sql.DB, error) {\n"
        '\tbase, query, _ := strings.Cut(uri, "?")\n'
        "\tvalues, err := url.ParseQuery(query)\n"
        "\tif err != nil {\n\t\treturn nil, err\n\t}\n"
        "\tvar pragmas []string\n"
        '\tfor _, p := range values["_pragma"] {\n'
        '\t\tname, value, _ := strings.Cut(strings.TrimSuffix(p, ")"), "(")\n'
        '\t\tpragmas = append(pragmas, fmt.Sprintf("PRAGMA %s = %s", name, value))\n\t}\n'
        '\tvalues.Del("_pragma")\n'
        "\tif len(values) > 0 {\n"
        '\t\tbase += "?" + values.Encode()\n\t}\n'
        "\tdriver := &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {\n"
        "\t\tfor _, p := range pragmas {\n"
        "\t\t\tif _, err := c.Exec(p, nil); err != nil {\n"
        '\t\t\t\treturn fmt.Errorf("%s: %w", p, err)\n\t\t\t}\n\t\t}\n'
        "\t\treturn nil\n\t}}\n"
        "\treturn sql.OpenDB(credregConnector{driver, base}), nil\n}\n\n"
        "// credregConnector opens connections to one DSN with one driver.\n"
        "type credregConnector struct {\n\td   *sqlite3.SQLiteDriver\n\tdsn string\n}\n\n"
        "func (c credregConnector) Connect(context.Context) (driver.Conn, error) {\n"
        "\treturn c.d.Open(c.dsn)\n}\n\n"
        "func (c credregConnector) Driver() driver.Driver { return c.d }\n"
    ),
    "internal/backends/sqlite/credreg_unique.go": (
        "package sqlite\n\n"
        'import (\n\t"errors"\n\n\tsqlite3 "github.com/mattn/go-sqlite3"\n)\n\n'
        "// credregUniqueViolation tells a unique-index violation (added by credreg).\n"
        "func credregUniqueViolation(err error) bool {\n"
        "\tvar se sqlite3.Error\n"
        "\treturn errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique\n}\n"
    ),
}


def c_compiler() -> str | None:
    """The C compiler cgo would use (`CC`, else `cc` or `gcc` on PATH); None without one."""
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def ferretdb_sources(cgo: bool) -> tuple[dict[str, list[tuple[str, str]]], dict[str, str]]:
    """The patches and new files of the build: with the C SQLite driver when `cgo`."""
    if not cgo:
        return FERRETDB_PATCHES, FERRETDB_NEW_FILES
    patches = {name: list(replacements) for name, replacements in FERRETDB_PATCHES.items()}
    for name, replacements in FERRETDB_CGO_PATCHES.items():
        patches.setdefault(name, []).extend(replacements)  # after the others of the same file
    return patches, {**FERRETDB_NEW_FILES, **FERRETDB_CGO_NEW_FILES}


def ferretdb_binary(layout: Layout) -> Path:
    """Build the FerretDB wrapper with Go (cached by source and patch digest); return its path."""
    cgo = c_compiler() is not None
    patches, new_files = ferretdb_sources(cgo)
    digest = hashlib.sha256(repr((patches, new_files, cgo)).encode())
    for name in ("main.go", "go.mod", "go.sum"):
        digest.update((FERRETDB_SOURCE / name).read_bytes())
    binary = layout.cache / "bin" / f"credreg-ferretdb-{digest.hexdigest()[:12]}"
    if binary.exists():
        return binary
    go = require_tool("go", "Go 1.24+ (https://go.dev/dl or Debian package 'golang')")
    driver = "C SQLite through cgo" if cgo else "modernc.org/sqlite (no C compiler found)"
    log(
        f"building FerretDB {FERRETDB_VERSION} with {driver} from the Go module proxy "
        "(first run only, ~3 min)"
    )
    build = layout.cache / "build" / binary.name
    shutil.rmtree(build, ignore_errors=True)
    module = patched_ferretdb_module(go, build / "FerretDB", patches, new_files)
    for name in ("main.go", "go.mod", "go.sum"):
        shutil.copy(FERRETDB_SOURCE / name, build / name)
    go_run(go, ["mod", "edit", f"-replace={FERRETDB_MODULE}={module}"], build)
    binary.parent.mkdir(parents=True, exist_ok=True)
    go_run(go, ["build", "-trimpath", "-o", str(binary), "."], build, cgo=cgo)
    shutil.rmtree(build, ignore_errors=True)
    return binary


def patched_ferretdb_module(
    go: str,
    target: Path,
    patches: dict[str, list[tuple[str, str]]],
    new_files: dict[str, str],
) -> Path:
    """Copy the FerretDB module from the Go module cache; apply `patches`, add `new_files`."""
    import json

    info = json.loads(
        go_run(go, ["mod", "download", "-json", f"{FERRETDB_MODULE}@{FERRETDB_VERSION}"], REPO)
    )
    shutil.copytree(info["Dir"], target)
    for folder in [target, *target.rglob("*")]:
        if folder.is_dir():
            folder.chmod(0o755)
    for relative, replacements in patches.items():
        path = target / relative
        path.chmod(0o644)
        text = path.read_text()
        for old, new in replacements:
            if text.count(old) < 1:
                raise InfraError(f"FerretDB patch no longer applies to {relative}: {old!r}")
            text = text.replace(old, new)
        path.write_text(text)
    for relative, content in new_files.items():
        (target / relative).write_text(content)
    return target


def go_run(go: str, args: list[str], cwd: Path, *, cgo: bool = False) -> str:
    """Run a go command (with cgo only when asked); fail with its error output."""
    result = subprocess.run(
        [go, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "CGO_ENABLED": "1" if cgo else "0", "GOFLAGS": "-mod=mod"},
    )
    if result.returncode != 0:
        raise InfraError(f"go {' '.join(args[:2])} failed:\n{result.stderr[-2000:]}")
    return result.stdout


def mongo_command(layout: Layout) -> tuple[str, list[str]]:
    """A real mongod when one is on PATH, else FerretDB over SQLite."""
    data = layout.state / "mongo-data"
    data.mkdir(parents=True, exist_ok=True)
    mongod = shutil.which("mongod")
    if mongod:
        return "mongod", [
            mongod,
            "--dbpath",
            str(data),
            "--bind_ip",
            "127.0.0.1",
            "--port",
            str(layout.mongo_port),
            "--quiet",
        ]
    binary = ferretdb_binary(layout)
    return "FerretDB", [
        str(binary),
        "-listen",
        f"127.0.0.1:{layout.mongo_port}",
        "-data",
        str(data),
        *(["-pprof", pprof] if (pprof := os.environ.get("CREDREG_FERRETDB_PPROF")) else []),
    ]


def mongo_up(layout: Layout) -> None:
    """Start the MongoDB-wire server unless it runs already, then wait for ping."""
    if running_pid(layout, "mongo") is not None and mongo_ready(layout):
        log(f"MongoDB-wire server already running on {layout.mongodb_uri}")
        return
    stop(layout, "mongo")
    flavour, argv = mongo_command(layout)
    pid = spawn(layout, "mongo", argv, layout.state)
    log(f"{flavour} starting (pid {pid})")
    wait_until(lambda: mongo_ready(layout), flavour, "mongo", layout)
    log(f"{flavour} ready on {layout.mongodb_uri}")


def mongo_ready(layout: Layout) -> bool:
    """True when the server answers ping."""
    try:
        from pymongo import MongoClient

        with MongoClient(layout.mongodb_uri, serverSelectionTimeoutMS=1000) as client:
            client.admin.command("ping")
        return True
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False


# --- commands --------------------------------------------------------------------------------

COMPONENTS = {"kafka": (kafka_up, kafka_ready), "mongo": (mongo_up, mongo_ready)}


def up(layout: Layout, only: list[str]) -> None:
    """Start every selected component (a second call is a no-op)."""
    layout.state.mkdir(parents=True, exist_ok=True)
    for name in only:
        COMPONENTS[name][0](layout)
    if "kafka" in only:
        print(f"KAFKA_BOOTSTRAP_SERVERS={layout.kafka_bootstrap}")
        if layout.kafka_sasl_bootstrap:
            print(f"KAFKA_SASL_BOOTSTRAP_SERVERS={layout.kafka_sasl_bootstrap}")
    if "mongo" in only:
        print(f"MONGODB_URI={layout.mongodb_uri}")


def down(layout: Layout, only: list[str], wipe: bool) -> None:
    """Stop every selected component and any stray process under the state folder."""
    for name in only:
        stop(layout, name)
    if set(only) == set(COMPONENTS):
        strays = processes_under(layout.state)
        for pid in strays:
            log(f"killing stray server process {pid}")
            os.kill(pid, signal.SIGKILL)
        if strays and not _wait_gone(strays, 5.0):
            raise InfraError(f"processes still running: {strays}")
        if wipe and layout.state.exists():
            shutil.rmtree(layout.state)
            log(f"removed {layout.state}")


def status(layout: Layout, only: list[str]) -> int:
    """Print what runs; exit 0 only when every selected component is ready."""
    ready_all = True
    for name in only:
        pid = running_pid(layout, name)
        ready = pid is not None and COMPONENTS[name][1](layout)
        ready_all &= ready
        where = layout.kafka_bootstrap if name == "kafka" else layout.mongodb_uri
        state = "ready" if ready else ("starting or unhealthy" if pid else "stopped")
        print(f"{name:6} {state:22} pid={pid or '-':<8} {where}")
    return 0 if ready_all else 1


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--only", choices=sorted(COMPONENTS), action="append")
    parser.add_argument("--wipe", action="store_true", help="down: also delete the state folder")
    args = parser.parse_args(argv)
    layout = Layout.from_env()
    only = args.only or list(COMPONENTS)
    try:
        if args.command == "up":
            up(layout, only)
        elif args.command == "down":
            down(layout, only, args.wipe)
        else:
            return status(layout, only)
    except InfraError as error:
        print(f"[infra] error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
