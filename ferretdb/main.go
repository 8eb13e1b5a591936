// Command ferretdb-embedded runs FerretDB v1 with its SQLite backend for this package's tests, demo and benchmarks.
//
// It embeds FerretDB's public package instead of building cmd/ferretdb: that command panics when it is built
// from the module proxy, because its version file is generated in FerretDB's own repository and is not in the
// module. It listens on 127.0.0.1 on a port the system picks and prints the server's URI as its first line on
// stdout, so the caller never races another process for a free port.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen-addr", "127.0.0.1:0", "TCP address to listen on")
	dataDir := flag.String("data-dir", "", "folder for the SQLite databases (required)")
	flag.Parse()

	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "ferretdb-embedded: -data-dir is required")
		os.Exit(2)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + *dataDir + "/",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb-embedded:", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	done := make(chan struct{})
	go func() {
		_ = f.Run(ctx)
		close(done)
	}()

	// MongoDBURI waits until Run has bound the listener.
	fmt.Println(f.MongoDBURI())

	<-done
}
