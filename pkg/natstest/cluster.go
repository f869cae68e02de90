package natstest

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is several embedded JetStream servers routed into one cluster.
type Cluster struct {
	Servers []*Server
}

// StartCluster runs n JetStream servers clustered together, each with its own port and store;
// they stop at cleanup.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	clusterPorts := make([]int, n)
	for i := range clusterPorts {
		clusterPorts[i] = freePort(t)
	}
	var routes []*url.URL
	for _, p := range clusterPorts {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	c := &Cluster{}
	for i := 0; i < n; i++ {
		s := &Server{t: t, opts: server.Options{
			ServerName: fmt.Sprintf("taskhook-test-%d", i+1),
			Host:       "127.0.0.1",
			Port:       freePort(t),
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoLog:      true,
			NoSigs:     true,
			Cluster:    server.ClusterOpts{Name: "taskhook-test", Host: "127.0.0.1", Port: clusterPorts[i]},
			Routes:     routes,
		}}
		s.URL = fmt.Sprintf("nats://127.0.0.1:%d", s.opts.Port)
		s.startAsync()
		c.Servers = append(c.Servers, s)
		t.Cleanup(s.Shutdown)
	}
	for _, s := range c.Servers {
		if !s.srv.ReadyForConnections(20 * time.Second) {
			t.Fatal("natstest: cluster server not ready in 20s")
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		leader := false
		for _, s := range c.Servers {
			leader = leader || s.srv.JetStreamIsLeader()
		}
		if leader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("natstest: no JetStream meta leader within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// URLs is every server's URL, comma-separated (a NATS_URL).
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.URL
	}
	return strings.Join(urls, ",")
}

// startAsync starts the server without waiting (cluster members wait for each other).
func (s *Server) startAsync() {
	s.t.Helper()
	opts := s.opts
	srv, err := server.NewServer(&opts)
	if err != nil {
		s.t.Fatalf("natstest: %v", err)
	}
	srv.Start()
	s.srv = srv
}
