package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// rawHTTP is a lean HTTP/1.1 keep-alive client for load generation (in the spirit of wrk): a
// prepared request is written as is and the response is read with a minimal parser, so that on
// a 2-core machine the load generator takes little of the CPU the measured service needs.
// Correctness of responses is still checked: the status code must be the expected one.
type rawHTTP struct {
	addr  string
	conns []*rawConn
}

type rawConn struct {
	c  net.Conn
	br *bufio.Reader
}

func newRawHTTP(addr string, workers int) *rawHTTP {
	return &rawHTTP{addr: addr, conns: make([]*rawConn, workers)}
}

// request builds the bytes of one POST.
func request(host, path, token string, body []byte, extra ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n", path, host, token, len(body))
	for i := 0; i+1 < len(extra); i += 2 {
		fmt.Fprintf(&b, "%s: %s\r\n", extra[i], extra[i+1])
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// do sends req on worker w's connection and returns the status code.
func (h *rawHTTP) do(ctx context.Context, w int, req []byte) (int, error) {
	rc := h.conns[w]
	if rc == nil {
		c, err := net.DialTimeout("tcp", h.addr, 2*time.Second)
		if err != nil {
			return 0, err
		}
		rc = &rawConn{c: c, br: bufio.NewReaderSize(c, 16<<10)}
		h.conns[w] = rc
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = rc.c.SetDeadline(dl.Add(30 * time.Second))
	}
	status, err := rc.roundTrip(req)
	if err != nil {
		rc.c.Close()
		h.conns[w] = nil
	}
	return status, err
}

func (rc *rawConn) roundTrip(req []byte) (int, error) {
	if _, err := rc.c.Write(req); err != nil {
		return 0, err
	}
	line, err := rc.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		l, err := rc.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(l) <= 2 {
			break
		}
		if len(l) > 16 && (l[0] == 'C' || l[0] == 'c') && bytes.EqualFold(l[:15], []byte("Content-Length:")) {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(l[15:])))
		}
	}
	if length < 0 {
		return 0, fmt.Errorf("response without Content-Length")
	}
	if _, err := rc.br.Discard(length); err != nil {
		return 0, err
	}
	return status, nil
}

func (h *rawHTTP) close() {
	for _, c := range h.conns {
		if c != nil {
			c.c.Close()
		}
	}
}
