package main

// /metrics: the Listener's and its Peers' counters in the Prometheus text
// format (natx.Metrics, natx.WriteMetrics), served with -metrics ADDR.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/nodeconn/natx/natx"
)

// serveMetrics serves /metrics on addr, prints a "metrics" line with the
// address it listens on, and returns the function that stops it.
func (n *node) serveMetrics(addr string) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_ = natx.WriteMetrics(w, natx.Metrics(n.l, n.peers.Load()))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.out.fail(err)
		}
	}()
	n.out.print(event{Event: "metrics", Listen: ln.Addr().String()})
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
