// Package proc runs Taskhook's real binaries (and a real nats-server binary) as child processes
// for end-to-end tests, fault tests and benchmarks: start with an environment, wait until
// ready, stop gracefully or kill -9.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Root returns the repository root (the directory holding go.work), found from the caller's
// working directory upwards.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.work not found above the working directory")
		}
		dir = parent
	}
}

// Build compiles the binaries (ingest, dispatcher) into dir with `go build` and returns dir.
func Build(ctx context.Context, root, dir string, names ...string) error {
	for _, n := range names {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, n), "./"+n+"/cmd/"+n)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", n, err, out)
		}
	}
	return nil
}

// Process is a running child process.
type Process struct {
	Name    string
	Path    string
	Args    []string
	Env     []string
	LogPath string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs path with args and env (added to a minimal environment), stderr and stdout going
// to logPath.
func Start(name, path string, args, env []string, logPath string) (*Process, error) {
	p := &Process{Name: name, Path: path, Args: args, Env: env, LogPath: logPath}
	return p, p.start()
}

func (p *Process) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, p.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		p.err = cmd.Wait()
		logf.Close()
		close(done)
	}(p.done)
	return nil
}

// Restart starts the process again with the same arguments after it stopped.
func (p *Process) Restart() error { return p.start() }

// Pid is the process id.
func (p *Process) Pid() int { p.mu.Lock(); defer p.mu.Unlock(); return p.cmd.Process.Pid }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to grace, then SIGKILL. It returns the exit error.
func (p *Process) Stop(grace time.Duration) error {
	if p.Exited() {
		return p.err
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s did not stop within %s; killed", p.Name, grace)
	}
}

// Kill sends SIGKILL (kill -9) and waits for the exit.
func (p *Process) Kill() {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Wait blocks until the process exits.
func (p *Process) Wait() error { <-p.done; return p.err }

// RSS returns the resident set size in bytes (Linux).
func (p *Process) RSS() (int64, error) {
	if runtime.GOOS != "linux" {
		return 0, errors.New("RSS needs /proc")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", p.Pid()))
	if err != nil {
		return 0, err
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0, err
	}
	return resident * int64(os.Getpagesize()), nil
}

// CPUTime returns the CPU time (user plus system) the process has used so far (Linux; the
// kernel counts it in ticks of 10 ms).
func (p *Process) CPUTime() (time.Duration, error) { return CPUTimeOf(p.Pid()) }

// CPUTimeOf is CPUTime of any process.
func CPUTimeOf(pid int) (time.Duration, error) {
	if runtime.GOOS != "linux" {
		return 0, errors.New("CPU time needs /proc")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: the fields that follow start after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	var user, sys int64
	if _, err := fmt.Sscan(f[11]+" "+f[12], &user, &sys); err != nil {
		return 0, err
	}
	return time.Duration(user+sys) * 10 * time.Millisecond, nil
}

// WaitHTTP polls url until it answers 200, the process exits, or timeout passes.
func (p *Process) WaitHTTP(url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.Exited() {
			return fmt.Errorf("%s exited: %v (log %s)", p.Name, p.err, p.LogPath)
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready at %s within %s (log %s)", p.Name, url, timeout, p.LogPath)
}

// FreePort returns a free TCP port on loopback.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return strconv.Atoi(port)
}

// WaitTCP waits until addr accepts connections.
func WaitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not accepting connections within %s", addr, timeout)
}
