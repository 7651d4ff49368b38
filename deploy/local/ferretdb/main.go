// Command credreg-ferretdb runs FerretDB v1 (SQLite backend) as a local MongoDB-wire server.
//
// FerretDB's own command panics at start-up without a generated version file when built with
// `go install`, so this wrapper embeds the library package instead.
package main

import (
	"context"
	"flag"
	"log"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // served only with -pprof, for profiling the server under a benchmark
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data", "data", "directory for the SQLite databases")
	pprof := flag.String("pprof", "", "address to serve Go's /debug/pprof on (off when empty)")
	flag.Parse()

	// Go's collector took ~11 % of the server's CPU under the webhook benchmark, collecting
	// short-lived request buffers (SQLite's page cache is not on Go's heap): a higher target
	// trades a little memory for that CPU. GOGC in the environment still wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}

	if *pprof != "" {
		go func() { log.Print(http.ListenAndServe(*pprof, nil)) }()
	}

	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		log.Fatalf("create data directory: %v", err)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
		Handler:  "sqlite",
		// WAL with synchronous=normal survives a killed process (what the tests and
		// reliability invariants need) without an fsync per write, which made every
		// single-document update cost ~30 ms on this kind of disk. A 64 MiB page cache per
		// connection (SQLite's default is 2 MiB) and statement journals in memory: 6 % more
		// events/s for the registry's projection at 300,000 credentials.
		SQLiteURL: "file:" + *dataDir + "/?_pragma=synchronous(normal)" +
			"&_pragma=temp_store(memory)&_pragma=cache_size(-65536)",
	})
	if err != nil {
		log.Fatalf("configure FerretDB: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log.Printf("credreg-ferretdb listening on %s, data in %s", *listen, *dataDir)
	db.Run(ctx)
}
