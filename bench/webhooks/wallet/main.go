// The benchmark's loopback wallet, in Go so that it does not take the CPU it measures from the
// services: it records when each webhook arrives (and, when asked, each event on the holders'
// live streams), and hands everything to the benchmark at the end. Signatures are checked by
// the benchmark afterwards, from the headers and bodies kept here.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// arrival is one POST received: when, where, and what a signature check needs.
type arrival struct {
	AtNs      int64  `json:"at_ns"`
	Path      string `json:"path"`
	ID        string `json:"webhook_id"`
	Timestamp string `json:"webhook_timestamp"`
	Signature string `json:"webhook_signature"`
	Body      string `json:"body"`
}

// streamEvent is one `data:` line seen on a holder's stream.
type streamEvent struct {
	AtNs   int64  `json:"at_ns"`
	Holder string `json:"holder"`
	ID     string `json:"id"`
	Data   string `json:"data"`
}

// streamSpec is one stream to open: the URL and the holder token.
type streamSpec struct {
	Holder string `json:"holder"`
	URL    string `json:"url"`
	Token  string `json:"token"`
}

type wallet struct {
	mu       sync.Mutex
	arrivals []arrival
	events   []streamEvent
	open     int
	failed   []string
}

func (w *wallet) receive(rw http.ResponseWriter, r *http.Request) {
	at := time.Now().UnixNano()
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	w.arrivals = append(w.arrivals, arrival{
		AtNs:      at,
		Path:      r.URL.Path,
		ID:        r.Header.Get("webhook-id"),
		Timestamp: r.Header.Get("webhook-timestamp"),
		Signature: r.Header.Get("webhook-signature"),
		Body:      string(body),
	})
	w.mu.Unlock()
	rw.WriteHeader(http.StatusNoContent)
}

func (w *wallet) follow(client *http.Client, spec streamSpec) {
	request, err := http.NewRequest(http.MethodGet, spec.URL, nil)
	if err != nil {
		w.fail(spec.Holder, err.Error())
		return
	}
	request.Header.Set("Authorization", "Bearer "+spec.Token)
	request.Header.Set("Accept", "text/event-stream")
	response, err := client.Do(request)
	if err != nil {
		w.fail(spec.Holder, err.Error())
		return
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		w.fail(spec.Holder, fmt.Sprintf("status %d", response.StatusCode))
		return
	}
	w.mu.Lock()
	w.open++
	w.mu.Unlock()
	reader := bufio.NewReaderSize(response.Body, 64*1024)
	lastID := ""
	for {
		line, err := reader.ReadString('\n')
		if err != nil {
			w.mu.Lock()
			w.open--
			w.mu.Unlock()
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "id:"):
			lastID = strings.TrimSpace(line[3:])
		case strings.HasPrefix(line, "data:"):
			at := time.Now().UnixNano()
			w.mu.Lock()
			w.events = append(w.events, streamEvent{at, spec.Holder, lastID, strings.TrimSpace(line[5:])})
			w.mu.Unlock()
		}
	}
}

func (w *wallet) fail(holder, reason string) {
	w.mu.Lock()
	w.failed = append(w.failed, holder+": "+reason)
	w.mu.Unlock()
}

func (w *wallet) streams(rw http.ResponseWriter, r *http.Request) {
	var specs []streamSpec
	if err := json.NewDecoder(r.Body).Decode(&specs); err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: len(specs) + 1, MaxConnsPerHost: 0}}
	for _, spec := range specs {
		go w.follow(client, spec)
	}
	rw.WriteHeader(http.StatusAccepted)
}

func (w *wallet) status(rw http.ResponseWriter, _ *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	webhooks := 0
	for _, a := range w.arrivals {
		if strings.HasPrefix(a.Path, "/wallet/") {
			webhooks++
		}
	}
	_ = json.NewEncoder(rw).Encode(map[string]any{
		"webhooks": webhooks, "events": len(w.events), "open": w.open, "failed": len(w.failed),
	})
}

func (w *wallet) dump(rw http.ResponseWriter, _ *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(map[string]any{
		"arrivals": w.arrivals, "events": w.events, "open": w.open, "failed": w.failed,
	})
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	w := &wallet{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /_control/streams", w.streams)
	mux.HandleFunc("GET /_control/status", w.status)
	mux.HandleFunc("GET /_control/dump", w.dump)
	mux.HandleFunc("POST /", w.receive)
	listener, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The benchmark reads the port from this first line.
	fmt.Printf("listening %d\n", listener.Addr().(*net.TCPAddr).Port)
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	if err := server.Serve(listener); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
