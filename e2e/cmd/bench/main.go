// Command bench measures Taskhook against raw baselines measured in the same run and prints a
// table (and rewrites the generated part of BENCHMARKS.md). Run it through `make bench`, which
// builds the binaries and a current nats-server first.
//
// Every figure stands beside the raw figure it should be compared with: ingest beside raw
// JetStream synchronous publishes of the same event at the same concurrency.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/taskhook/taskhook/e2e/proc"
)

type options struct {
	suites          string
	events          int
	fanoutEvents    int
	latencyRates    intList
	latencyDuration time.Duration
	noSettle        bool
	dbParams        string
	bin             string
	pipelineConns   int
	loadStart       string // load average when the run began
	pprof           string
	pprofIngest     string
	pgo             bool
	backlog         int
	scaleDeliveries int
	scaleDays       int
	scaleRateEvents int
	dueTasks        int
	duration        time.Duration
	warmup          time.Duration
	concurrency     int
	batchSize       int
	out             string
	keep            bool
	serviceEnv      envList
}

// intList is a comma-separated list of positive integers.
type intList []int

func (l *intList) String() string {
	var parts []string
	for _, n := range *l {
		parts = append(parts, strconv.Itoa(n))
	}
	return strings.Join(parts, ",")
}

func (l *intList) Set(v string) error {
	*l = nil
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive integer", f)
		}
		*l = append(*l, n)
	}
	return nil
}

// loadAverage is /proc/loadavg's three figures ("" elsewhere): every figure is taken on a
// machine that may be shared, and says how busy it was.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (l *envList) String() string { return strings.Join(*l, " ") }
func (l *envList) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*l = append(*l, v)
	return nil
}

func main() {
	var o options
	flag.StringVar(&o.suites, "suites", "ingest,delivery,pipeline,latency,backlog,due", "comma-separated suites to run: ingest, delivery, pipeline, latency, backlog, due, scale (not in the default: 50M rows take hours)")
	flag.StringVar(&o.pprofIngest, "pprof-ingest", "", "serve ingest's pprof on this address during the pipeline suite (-pprof serves the dispatcher's)")
	flag.BoolVar(&o.pgo, "pgo", false, "during the pipeline suite's measured window, profile ingest and the dispatcher and write the profiles as ingest/cmd/ingest/default.pgo and dispatcher/cmd/dispatcher/default.pgo (make pgo)")
	flag.IntVar(&o.backlog, "backlog", 1000000, "deliveries in the retry backlog of the backlog suite")
	flag.IntVar(&o.scaleDeliveries, "scale-deliveries", 50000000, "deliveries generated in the database by the scale suite (run the full size only on a machine of your own)")
	flag.IntVar(&o.scaleDays, "scale-days", 30, "days the scale suite's deliveries are spread over (one partition each)")
	flag.IntVar(&o.scaleRateEvents, "scale-rate-events", 20000, "events of each delivery-rate run of the scale suite (empty database, then full)")
	flag.IntVar(&o.dueTasks, "due-tasks", 1000000, "open tasks waiting for their reminders in the due suite")
	flag.IntVar(&o.events, "events", 50000, "events of the end-to-end delivery run")
	flag.IntVar(&o.fanoutEvents, "fanout-events", 1000, "events of the fan-out run (each to 100 webhooks)")
	o.latencyRates = intList{500, 2000}
	flag.Var(&o.latencyRates, "latency-rates", "events per second of the latency runs, comma-separated (one run each)")
	flag.DurationVar(&o.latencyDuration, "latency-duration", 60*time.Second, "length of each latency run (shorten it for smoke runs)")
	flag.BoolVar(&o.noSettle, "no-settle", false, "start each latency run at once, without the checkpoint and wait for a quiet PostgreSQL (to reproduce the unsettled tail)")
	flag.StringVar(&o.bin, "bin", "", "directory of ingest, dispatcher and nats-server (default: bin/ of the repository), to compare builds")
	flag.StringVar(&o.dbParams, "db-params", "", "extra DATABASE_URL parameters of the dispatcher, e.g. synchronous_commit=off (experiments only)")
	flag.IntVar(&o.pipelineConns, "pipeline-connections", 64, "HTTP connections posting events to ingest in the pipeline suite")
	flag.StringVar(&o.pprof, "pprof", "", "serve the pprof of the service under test (ingest or dispatcher) on this address during the run")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "measuring time of each throughput phase")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each throughput phase (not measured)")
	flag.IntVar(&o.concurrency, "concurrency", 32, "concurrent clients (the same for a figure and its baseline)")
	flag.IntVar(&o.batchSize, "batch", 100, "events per POST /v1/events/batch")
	flag.StringVar(&o.out, "out", "", "file whose generated section to rewrite (BENCHMARKS.md); empty prints only")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, stores)")
	flag.Var(&o.serviceEnv, "service-env", "KEY=VALUE added to the environment of ingest and the dispatcher (repeatable; for experiments such as GOGC)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	root, err := proc.Root()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "taskhook-bench-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(tmp)
	} else {
		fmt.Println("bench: keeping", tmp)
	}
	o.loadStart = loadAverage()
	e := &env{root: root, bin: filepath.Join(root, "bin"), tmp: tmp, opts: o}
	if o.bin != "" {
		e.bin = o.bin
	}
	defer e.close()
	if err := e.startNATS(); err != nil {
		return err
	}
	var rows []row
	for _, s := range strings.Split(o.suites, ",") {
		var got []row
		switch strings.TrimSpace(s) {
		case "ingest":
			got, err = benchIngest(ctx, e)
		case "delivery":
			got, err = benchDelivery(ctx, e)
		case "pipeline":
			got, err = benchPipeline(ctx, e)
		case "latency":
			got, err = benchLatency(ctx, e)
		case "backlog":
			got, err = benchBacklog(ctx, e)
		case "due":
			got, err = benchDue(ctx, e)
		case "scale":
			got, err = benchScale(ctx, e)
		default:
			return fmt.Errorf("unknown suite %q", s)
		}
		if err != nil {
			return fmt.Errorf("suite %s: %w", s, err)
		}
		rows = append(rows, got...)
	}
	report := render(rows, machine(e), o)
	fmt.Print(report)
	if o.out != "" {
		return writeSection(filepath.Join(root, o.out), report)
	}
	return nil
}

type env struct {
	root, bin, tmp string
	opts           options
	natsURL        string
	nats           *proc.Process
	procs          []*proc.Process
}

func (e *env) startNATS() error {
	port, err := proc.FreePort()
	if err != nil {
		return err
	}
	p, err := proc.Start("nats-server", filepath.Join(e.bin, "nats-server"),
		[]string{"-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", filepath.Join(e.tmp, "nats")}, nil,
		filepath.Join(e.tmp, "nats-server.log"))
	if err != nil {
		return fmt.Errorf("%w (run `make bin/nats-server` first)", err)
	}
	e.nats = p
	e.procs = append(e.procs, p)
	e.natsURL = fmt.Sprintf("nats://127.0.0.1:%d", port)
	return proc.WaitTCP(fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
}

// start runs one of bin/ and waits for its /readyz.
func (e *env) start(name string, env []string, addr string) (*proc.Process, error) {
	p, err := proc.Start(name, filepath.Join(e.bin, name), nil, append(env, e.opts.serviceEnv...), filepath.Join(e.tmp, name+".log"))
	if err != nil {
		return nil, err
	}
	e.procs = append(e.procs, p)
	return p, p.WaitHTTP("http://"+addr+"/readyz", 30*time.Second)
}

// startIngest runs bin/ingest on a free port (serving pprof on pprofAddr when not empty) and
// returns it with its address.
func (e *env) startIngest(pprofAddr string) (*proc.Process, string, error) {
	port, err := proc.FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	env := []string{"NATS_URL=" + e.natsURL, "INGEST_ADDR=" + addr, "TASKHOOK_INGEST_TOKENS=" + ingestToken, "TASKHOOK_LOG_LEVEL=warn"}
	if pprofAddr != "" {
		env = append(env, "TASKHOOK_PPROF_ADDR="+pprofAddr)
	}
	p, err := e.start("ingest", env, addr)
	return p, addr, err
}

func (e *env) close() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		_ = e.procs[i].Stop(10 * time.Second)
	}
}
