package ctl

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/taskhook/taskhook/client"
)

// publishSummary is what publish reports.
type publishSummary struct {
	Lines       int     `json:"lines"` // events read (blank lines are skipped)
	Accepted    int     `json:"accepted"`
	Duplicate   int     `json:"duplicate"`
	Refused     int     `json:"refused"`
	RefusedFile string  `json:"refused_file,omitempty"`
	Batches     int     `json:"batches"`
	Seconds     float64 `json:"seconds"`
}

// refusedLine is one line of the refused file.
type refusedLine struct {
	Line    int             `json:"line"`
	Status  int             `json:"status"`
	Error   string          `json:"error"`
	Details []client.Detail `json:"details,omitempty"`
	Event   json.RawMessage `json:"event,omitempty"` // the line, when it is JSON
	Text    string          `json:"text,omitempty"`  // the line, when it is not
}

func (e *env) publishCmd() *cobra.Command {
	var file, refusedPath, keyPrefix string
	var batch int
	c := &cobra.Command{Use: "publish -f events.ndjson", Short: "Publish events from an NDJSON file (one event per line) in batches",
		Long: `Publish events from an NDJSON file (one JSON event per line; - for stdin) in batches of up to
1000, with a progress bar, then print how many lines were accepted, duplicate and refused.
Refused lines are written, each with its line number, status, error and details (JSON
pointers), to --refused (default <file>.refused.ndjson). Exits 3 when any line was refused.

Each batch is sent with an Idempotency-Key derived from its content (or --key-prefix and its
first line number): events without an event_id get the id <key>.<index>, so publishing the
same file again within the duplicate window counts duplicates instead of publishing twice.`,
		Args: exact(0, "no arguments (the events come from -f)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("-f is required (an NDJSON file, or - for stdin)")
			}
			if batch < 1 || batch > client.MaxBatch {
				return usagef("--batch must be 1 to %d", client.MaxBatch)
			}
			pub, err := e.publisher()
			if err != nil {
				return err
			}
			in := e.In
			var size int64 = -1
			if file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return usagef("%v", err)
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil {
					size = st.Size()
				}
				in = f
			}
			if refusedPath == "" {
				refusedPath = "refused.ndjson"
				if file != "-" {
					refusedPath = file + ".refused.ndjson"
				}
			}
			var bar *progressbar.ProgressBar
			if e.showProgress() {
				bar = progressbar.NewOptions64(size, progressbar.OptionSetWriter(e.Err), progressbar.OptionSetDescription("publish"),
					progressbar.OptionShowBytes(true), progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(),
					progressbar.OptionThrottle(100*time.Millisecond))
			}
			start := time.Now()
			sum := publishSummary{}
			var refused []refusedLine
			rd := bufio.NewReaderSize(in, 1<<20)
			lineNo := 0
			eof := false
			for !eof {
				var items []json.RawMessage
				var lines []int
				var bytesRead int
				for len(items) < batch {
					line, err := rd.ReadBytes('\n')
					if errors.Is(err, io.EOF) {
						eof = true
					} else if err != nil {
						return err
					}
					if len(line) > 0 {
						lineNo++
						bytesRead += len(line)
					}
					line = bytes.TrimSpace(line)
					if len(line) > 0 {
						sum.Lines++
						if !json.Valid(line) {
							r := refusedLine{Line: lineNo, Status: http.StatusBadRequest, Error: "the line is not valid JSON"}
							r.Text = string(line)
							refused = append(refused, r)
						} else {
							items, lines = append(items, json.RawMessage(line)), append(lines, lineNo)
						}
					}
					if eof {
						break
					}
				}
				if len(items) > 0 {
					key := batchKey(keyPrefix, lines[0], items)
					rs, err := pub.PublishBatch(cmd.Context(), items, client.IdempotencyKey(key))
					if err != nil {
						_ = e.printPublish(sum, len(refused), "") // the error below says what failed
						return fmt.Errorf("batch from line %d: %w (the lines before it were published; publish again: the same lines are counted as duplicates)", lines[0], err)
					}
					sum.Batches++
					for i, r := range rs {
						switch {
						case r.OK() && r.Duplicate:
							sum.Duplicate++
						case r.OK():
							sum.Accepted++
						default:
							refused = append(refused, refusedLine{Line: lines[i], Status: r.Status, Error: r.Error, Details: r.Details, Event: items[i]})
						}
					}
				}
				if bar != nil {
					_ = bar.Add(bytesRead)
				}
			}
			if bar != nil {
				_ = bar.Finish()
			}
			sum.Refused = len(refused)
			sum.Seconds = time.Since(start).Seconds()
			if len(refused) > 0 {
				slices.SortStableFunc(refused, func(a, b refusedLine) int { return a.Line - b.Line })
				if err := writeRefused(refusedPath, refused); err != nil {
					return err
				}
				sum.RefusedFile = refusedPath
			}
			if err := e.printPublish(sum, sum.Refused, sum.RefusedFile); err != nil {
				return err
			}
			if sum.Refused > 0 {
				return partial("%d of %d lines refused; see %s", sum.Refused, sum.Lines, refusedPath)
			}
			return nil
		}}
	f := c.Flags()
	f.StringVarP(&file, "file", "f", "", "NDJSON file of events (- for stdin)")
	f.IntVar(&batch, "batch", client.MaxBatch, "events per request (1 to 1000)")
	f.StringVar(&refusedPath, "refused", "", "where to write the refused lines (default <file>.refused.ndjson)")
	f.StringVar(&keyPrefix, "key-prefix", "", "Idempotency-Key prefix of the batches (default: derived from each batch's content)")
	return c
}

func batchKey(prefix string, firstLine int, items []json.RawMessage) string {
	if prefix != "" {
		return fmt.Sprintf("%s-%d", prefix, firstLine)
	}
	h := sha256.New()
	for _, it := range items {
		h.Write(it)
		h.Write([]byte{'\n'})
	}
	return "ndjson-" + hex.EncodeToString(h.Sum(nil))[:32]
}

func writeRefused(path string, rs []refusedLine) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, r := range rs {
		if err := enc.Encode(r); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (e *env) printPublish(s publishSummary, refused int, file string) error {
	s.Refused = refused
	if e.output == "json" {
		return e.json(s)
	}
	kv := [][2]string{{"lines", fmt.Sprint(s.Lines)}, {"accepted", fmt.Sprint(s.Accepted)}, {"duplicate", fmt.Sprint(s.Duplicate)},
		{"refused", fmt.Sprint(s.Refused)}}
	if file != "" {
		kv[3][1] += " (written to " + file + ")"
	}
	kv = append(kv, [2]string{"batches", fmt.Sprint(s.Batches)}, [2]string{"took", fmt.Sprintf("%.2fs", s.Seconds)})
	e.fields(kv)
	return nil
}
