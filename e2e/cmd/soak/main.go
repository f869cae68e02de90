// Command soak is the chaos soak (make soak): steady events through ingest and two dispatchers
// on a three-node NATS cluster and a PostgreSQL of its own, while it kills a dispatcher
// (SIGKILL), kills a NATS node, restarts PostgreSQL, makes a receiver fail for a while and kills
// the other dispatcher. The publisher retries with its event ids, as a careful publisher does.
// At the end every accepted event is reconciled at both receivers: lost (must be 0),
// duplicates, time to converge, RSS over time, p99 in the calm stretches. It exits 1 when an
// event is lost.
//
// PostgreSQL is a fresh cluster (initdb into a temporary directory, a free port, run as the
// postgres user when run as root), never the machine's shared one: it is restarted.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/taskhook/taskhook/e2e/proc"
)

const (
	adminToken  = "soak-admin"
	ingestToken = "soak-ingest"
)

type options struct {
	duration  time.Duration
	rate      int
	bin       string
	pgBin     string
	keep      bool
	converge  time.Duration
	failFor   time.Duration
	noFaults  bool
	sampleRSS time.Duration
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long events are published (faults are spread over it)")
	flag.IntVar(&o.rate, "rate", 50, "events per second")
	flag.StringVar(&o.bin, "bin", "", "directory of ingest, dispatcher and nats-server (default: bin/ of the repository)")
	flag.StringVar(&o.pgBin, "pg-bin", "/usr/lib/postgresql/15/bin", "directory of initdb, pg_ctl and postgres")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, stores)")
	flag.DurationVar(&o.converge, "converge", 5*time.Minute, "how long to wait, after the last event, for every accepted event at every receiver")
	flag.DurationVar(&o.failFor, "receiver-fails", 0, "how long the second receiver answers 503 (default: a tenth of -duration, at most 1m)")
	flag.BoolVar(&o.noFaults, "no-faults", false, "no faults (a baseline)")
	flag.DurationVar(&o.sampleRSS, "rss-every", 10*time.Second, "RSS sampling period")
	flag.Parse()
	if o.failFor == 0 {
		o.failFor = min(o.duration/10, time.Minute)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	lost, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if lost > 0 {
		os.Exit(1)
	}
}

// stack is everything the soak runs.
type stack struct {
	o           options
	root, tmp   string
	bin         string
	pg          *postgres
	nats        []*proc.Process
	natsURLs    string
	ingest      *proc.Process
	ingestAddr  string
	dispatchers []*proc.Process
	dispAddrs   []string
	procs       []*proc.Process
}

func run(ctx context.Context, o options) (int, error) {
	root, err := proc.Root()
	if err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp("", "taskhook-soak-")
	if err != nil {
		return 0, err
	}
	if o.keep {
		fmt.Println("soak: keeping", tmp)
	}
	s := &stack{o: o, root: root, tmp: tmp, bin: filepath.Join(root, "bin")}
	if o.bin != "" {
		s.bin = o.bin
	}
	defer func() {
		for i := len(s.procs) - 1; i >= 0; i-- {
			_ = s.procs[i].Stop(10 * time.Second)
		}
		if s.pg != nil {
			s.pg.stop()
		}
		if !o.keep {
			_ = os.RemoveAll(tmp)
		}
	}()
	if s.pg, err = startPostgres(ctx, o.pgBin, filepath.Join(tmp, "pg")); err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	if err := s.startNATS(); err != nil {
		return 0, fmt.Errorf("nats cluster: %w", err)
	}
	a, b := newReceiver(), newReceiver()
	defer a.srv.Close()
	defer b.srv.Close()
	if err := s.startIngest(); err != nil {
		return 0, err
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	for i := 0; i < 2; i++ {
		if err := s.startDispatcher(i, base64.StdEncoding.EncodeToString(key)); err != nil {
			return 0, err
		}
	}
	for _, r := range []*receiver{a, b} {
		if err := s.createWebhook("http://" + r.addr + "/hook"); err != nil {
			return 0, err
		}
	}

	began := time.Now()
	pub := &publisher{addr: s.ingestAddr, at: map[string]time.Time{}}
	pctx, stopPublishing := context.WithTimeout(ctx, o.duration)
	defer stopPublishing()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); pub.run(pctx, o.rate) }()

	rss := &rssLog{}
	wg.Add(1)
	go func() { defer wg.Done(); rss.sample(pctx, s, o.sampleRSS, began) }()

	faults := s.faults(b)
	if o.noFaults {
		faults = nil
	}
	var windows []window
	for _, f := range faults {
		at := began.Add(time.Duration(f.at * float64(o.duration)))
		select {
		case <-pctx.Done():
		case <-time.After(time.Until(at)):
			fmt.Printf("soak: %s: %s\n", time.Since(began).Round(time.Second), f.name)
			start := time.Now()
			if err := f.do(ctx); err != nil {
				fmt.Printf("soak: %s failed: %v\n", f.name, err)
			}
			windows = append(windows, window{name: f.name, from: start, to: time.Now()})
		}
	}
	<-pctx.Done()
	wg.Wait()
	stopped := time.Now()

	// Converge: every accepted event at both receivers.
	ids := pub.acceptedIDs()
	deadline := stopped.Add(o.converge)
	for time.Now().Before(deadline) && (len(a.missing(ids)) > 0 || len(b.missing(ids)) > 0) {
		time.Sleep(200 * time.Millisecond)
	}
	lostA, lostB := a.missing(ids), b.missing(ids)
	last := a.lastArrival()
	if b.lastArrival().After(last) {
		last = b.lastArrival()
	}
	converged := max(last.Sub(stopped), 0)
	report(o, pub, a, b, ids, lostA, lostB, converged, windows, rss, began)
	return len(lostA) + len(lostB), nil
}

// fault is one fault of the schedule, at a fraction of the run.
type fault struct {
	at   float64
	name string
	do   func(context.Context) error
}

type window struct {
	name     string
	from, to time.Time
}

func (s *stack) faults(failing *receiver) []fault {
	killRestart := func(p *proc.Process, addr string, down time.Duration) func(context.Context) error {
		return func(context.Context) error {
			p.Kill()
			time.Sleep(down)
			if err := p.Restart(); err != nil {
				return err
			}
			if addr != "" {
				return p.WaitHTTP("http://"+addr+"/readyz", 60*time.Second)
			}
			return nil
		}
	}
	return []fault{
		{0.15, "SIGKILL dispatcher 1 (restarted 3 s later)", killRestart(s.dispatchers[0], s.dispAddrs[0], 3*time.Second)},
		{0.30, "SIGKILL NATS node 2 (restarted 15 s later)", killRestart(s.nats[1], "", 15*time.Second)},
		{0.45, "restart PostgreSQL (pg_ctl restart -m fast)", s.pg.restart},
		{0.60, fmt.Sprintf("receiver 2 answers 503 for %s", s.o.failFor), func(context.Context) error {
			failing.failing.Store(true)
			time.Sleep(s.o.failFor)
			failing.failing.Store(false)
			return nil
		}},
		{0.80, "SIGKILL dispatcher 2 (restarted 3 s later)", killRestart(s.dispatchers[1], s.dispAddrs[1], 3*time.Second)},
	}
}

func (s *stack) startNATS() error {
	const n = 3
	clientPorts, clusterPorts := make([]int, n), make([]int, n)
	for i := 0; i < n; i++ {
		clientPorts[i], _ = proc.FreePort()
		clusterPorts[i], _ = proc.FreePort()
	}
	var routes, urls []string
	for i := 0; i < n; i++ {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", clusterPorts[i]))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i]))
	}
	for i := 0; i < n; i++ {
		p, err := proc.Start(fmt.Sprintf("nats-%d", i+1), filepath.Join(s.bin, "nats-server"), []string{
			"-a", "127.0.0.1", "-p", fmt.Sprint(clientPorts[i]), "-n", fmt.Sprintf("soak-%d", i+1),
			"-js", "-sd", filepath.Join(s.tmp, fmt.Sprintf("nats-%d", i+1)),
			"--cluster_name", "soak", "--cluster", fmt.Sprintf("nats://127.0.0.1:%d", clusterPorts[i]),
			"--routes", strings.Join(routes, ","),
		}, nil, filepath.Join(s.tmp, fmt.Sprintf("nats-%d.log", i+1)))
		if err != nil {
			return fmt.Errorf("%w (run `make bin/nats-server` first)", err)
		}
		s.nats = append(s.nats, p)
		s.procs = append(s.procs, p)
	}
	for _, u := range urls {
		if err := proc.WaitTCP(strings.TrimPrefix(u, "nats://"), 20*time.Second); err != nil {
			return err
		}
	}
	s.natsURLs = strings.Join(urls, ",")
	return nil
}

func (s *stack) startIngest() error {
	port, _ := proc.FreePort()
	s.ingestAddr = fmt.Sprintf("127.0.0.1:%d", port)
	p, err := proc.Start("ingest", filepath.Join(s.bin, "ingest"), nil, []string{"NATS_URL=" + s.natsURLs,
		"INGEST_ADDR=" + s.ingestAddr, "TASKHOOK_INGEST_TOKENS=" + ingestToken, "TASKHOOK_STREAM_REPLICAS=3",
		"TASKHOOK_LOG_LEVEL=info"}, filepath.Join(s.tmp, "ingest.log"))
	if err != nil {
		return err
	}
	s.ingest = p
	s.procs = append(s.procs, p)
	return p.WaitHTTP("http://"+s.ingestAddr+"/readyz", 60*time.Second)
}

func (s *stack) startDispatcher(i int, key string) error {
	port, _ := proc.FreePort()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := proc.Start(fmt.Sprintf("dispatcher-%d", i+1), filepath.Join(s.bin, "dispatcher"), nil, []string{
		"NATS_URL=" + s.natsURLs, "DATABASE_URL=" + s.pg.url, "DISPATCHER_ADDR=" + addr,
		"TASKHOOK_ADMIN_TOKENS=" + adminToken, "TASKHOOK_ENCRYPTION_KEY=" + key, "TASKHOOK_STREAM_REPLICAS=3",
		"TASKHOOK_ALLOW_HTTP=true", "TASKHOOK_ALLOWED_NETWORKS=127.0.0.0/8", "TASKHOOK_DUE_EVENTS=off",
		"TASKHOOK_RETRY_SCHEDULE=1s,2s,5s,10s,20s,30s,30s,30s,30s,30s,60s,60s", "TASKHOOK_LOG_LEVEL=info",
	}, filepath.Join(s.tmp, fmt.Sprintf("dispatcher-%d.log", i+1)))
	if err != nil {
		return err
	}
	s.dispatchers = append(s.dispatchers, p)
	s.dispAddrs = append(s.dispAddrs, addr)
	s.procs = append(s.procs, p)
	return p.WaitHTTP("http://"+addr+"/readyz", 60*time.Second)
}

func (s *stack) createWebhook(url string) error {
	body, _ := json.Marshal(map[string]any{"name": "soak", "url": url, "events": []string{"task.*"}, "provider": "generic"})
	req, _ := http.NewRequest("POST", "http://"+s.dispAddrs[0]+"/v1/webhooks", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 201 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("create webhook: %d %s", resp.StatusCode, b)
	}
	return nil
}

// postgres is a PostgreSQL cluster of the soak's own.
type postgres struct {
	bin, dir, url string
	port          int
}

// asPostgres runs a PostgreSQL program, as the postgres user when this runs as root (initdb and
// postgres refuse root).
func asPostgres(name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func startPostgres(ctx context.Context, bin, dir string) (*postgres, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		_ = os.Chmod(filepath.Dir(dir), 0o755)
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("chown: %v %s", err, out)
		}
	}
	if out, err := asPostgres(filepath.Join(bin, "initdb"), "-D", dir, "-U", "postgres", "-A", "trust", "--no-sync").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v %s", err, out)
	}
	port, _ := proc.FreePort()
	pg := &postgres{bin: bin, dir: dir, port: port, url: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	if err := pg.ctl("start"); err != nil {
		return nil, err
	}
	return pg, nil
}

func (pg *postgres) ctl(action string) error {
	args := []string{"-D", pg.dir, "-w", "-t", "60", "-l", filepath.Join(pg.dir, "server.log"),
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=100", pg.port, pg.dir)}
	if action != "start" {
		args = append(args, "-m", "fast")
	}
	out, err := asPostgres(filepath.Join(pg.bin, "pg_ctl"), append([]string{action}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v %s", action, err, out)
	}
	return nil
}

func (pg *postgres) restart(context.Context) error { return pg.ctl("restart") }
func (pg *postgres) stop()                         { _ = pg.ctl("stop") }

// publisher posts events through ingest at a steady rate, each retried with its event id until
// it is accepted (a careful publisher).
type publisher struct {
	addr     string
	mu       sync.Mutex
	at       map[string]time.Time // accepted event id -> when it was accepted
	retries  int
	rejected []string
}

func (p *publisher) run(ctx context.Context, rate int) {
	ids := make(chan string, rate*60)
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for id := range ids {
				p.publish(client, id)
			}
		}()
	}
	t := time.NewTicker(time.Second / time.Duration(rate))
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			close(ids)
			wg.Wait()
			return
		case <-t.C:
			select {
			case ids <- fmt.Sprintf("soak-%07d", i):
			default: // the publisher is more than a minute behind: the event is not sent (not accepted, not counted)
			}
		}
	}
}

func (p *publisher) publish(client *http.Client, id string) {
	body := fmt.Sprintf(`{"event_id":%q,"task_id":%q,"event":"created","title":"Follow up"}`, id, id)
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest("POST", "http://"+p.addr+"/v1/events", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+ingestToken)
		resp, err := client.Do(req)
		code := 0
		if err == nil {
			code = resp.StatusCode
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		p.mu.Lock()
		switch {
		case code == 200 || code == 202:
			p.at[id] = time.Now()
			p.mu.Unlock()
			return
		case code >= 400 && code < 500 && code != 408 && code != 429:
			p.rejected = append(p.rejected, fmt.Sprintf("%s: %d", id, code))
			p.mu.Unlock()
			return
		}
		p.retries++
		p.mu.Unlock()
		time.Sleep(min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second))
	}
}

func (p *publisher) acceptedIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.at))
	for id := range p.at {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// receiver records every event it answered 2xx for (when failing, it answers 503).
type receiver struct {
	srv     *http.Server
	addr    string
	failing atomic.Bool
	mu      sync.Mutex
	got     map[string][]time.Time // event id -> arrivals answered 2xx
	last    time.Time
}

func newReceiver() *receiver {
	r := &receiver{got: map[string][]time.Time{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	r.addr = ln.Addr().String()
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		if r.failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var env struct {
			Data struct {
				EventID string `json:"event_id"`
			} `json:"data"`
		}
		_ = json.Unmarshal(b, &env)
		now := time.Now()
		r.mu.Lock()
		r.got[env.Data.EventID] = append(r.got[env.Data.EventID], now)
		r.last = now
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = r.srv.Serve(ln) }()
	return r
}

func (r *receiver) missing(ids []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, id := range ids {
		if len(r.got[id]) == 0 {
			out = append(out, id)
		}
	}
	return out
}

func (r *receiver) lastArrival() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func (r *receiver) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ts := range r.got {
		n += max(len(ts)-1, 0)
	}
	return n
}

// rssLog samples the RSS of the services.
type rssLog struct {
	mu   sync.Mutex
	rows []string
}

func (l *rssLog) sample(ctx context.Context, s *stack, every time.Duration, began time.Time) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cols := []string{time.Since(began).Round(time.Second).String()}
		for _, p := range append([]*proc.Process{s.ingest}, s.dispatchers...) {
			if r, err := p.RSS(); err == nil {
				cols = append(cols, fmt.Sprintf("%.0f", float64(r)/(1<<20)))
			} else {
				cols = append(cols, "-")
			}
		}
		l.mu.Lock()
		l.rows = append(l.rows, "| "+strings.Join(cols, " | ")+" |")
		l.mu.Unlock()
	}
}

func report(o options, pub *publisher, a, b *receiver, ids, lostA, lostB []string, converged time.Duration, windows []window, rss *rssLog, began time.Time) {
	// Calm stretches: events accepted at least 30 s after the end of a fault and 2 s before the
	// start of the next; latency at the always-healthy receiver.
	calm := func(at time.Time) bool {
		for _, w := range windows {
			if at.After(w.from.Add(-2*time.Second)) && at.Before(w.to.Add(30*time.Second)) {
				return false
			}
		}
		return true
	}
	var lat []time.Duration
	pub.mu.Lock()
	a.mu.Lock()
	for id, at := range pub.at {
		if got := a.got[id]; len(got) > 0 && calm(at) {
			lat = append(lat, got[0].Sub(at))
		}
	}
	a.mu.Unlock()
	retries, rejected := pub.retries, len(pub.rejected)
	pub.mu.Unlock()
	slices.Sort(lat)
	pct := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(q*float64(len(lat))))]
	}
	fmt.Printf("\n## Soak: %s at %d events/s, two dispatchers, three NATS nodes\n\n", o.duration, o.rate)
	fmt.Printf("- started %s UTC; faults:\n", began.UTC().Format("2006-01-02 15:04"))
	for _, w := range windows {
		fmt.Printf("  - at %s: %s (%s)\n", w.from.Sub(began).Round(time.Second), w.name, w.to.Sub(w.from).Round(100*time.Millisecond))
	}
	fmt.Printf("- accepted %d events (publisher retries %d, rejected %d)\n", len(ids), retries, rejected)
	fmt.Printf("- **lost %d** (receiver 1: %d, receiver 2: %d)\n", len(lostA)+len(lostB), len(lostA), len(lostB))
	fmt.Printf("- duplicates (same event answered 2xx again): receiver 1 %d, receiver 2 %d\n", a.duplicates(), b.duplicates())
	fmt.Printf("- converged %s after the last event was published\n", converged.Round(100*time.Millisecond))
	fmt.Printf("- latency (accepted → receiver 1) in calm stretches: p50 %s, p99 %s, max %s over %d events\n",
		pct(.5).Round(time.Millisecond), pct(.99).Round(time.Millisecond), pct(1).Round(time.Millisecond), len(lat))
	fmt.Printf("\nRSS (MiB) over time:\n\n| t | ingest | dispatcher 1 | dispatcher 2 |\n|---|---|---|---|\n")
	rss.mu.Lock()
	for _, r := range rss.rows {
		fmt.Println(r)
	}
	rss.mu.Unlock()
	if n := len(lostA) + len(lostB); n > 0 {
		fmt.Printf("\nlost, first ones: %v %v\n", lostA[:min(5, len(lostA))], lostB[:min(5, len(lostB))])
	}
}
