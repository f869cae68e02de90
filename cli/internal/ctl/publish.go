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
	var batch, maxBatchBytes int
	c := &cobra.Command{Use: "publish -f events.ndjson", Short: "Publish events from an NDJSON file (one event per line) in batches",
		Long: `Publish events from an NDJSON file (one JSON event per line; - for stdin) in batches of up to
1000 events and --max-batch-bytes (8 MiB), with a progress bar, then print how many lines were
accepted, duplicate and refused. A line longer than a batch may be is refused alone (its first
KiB is kept in the refused file); a leading UTF-8 byte order mark is ignored.
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
			if maxBatchBytes < 1024 {
				return usagef("--max-batch-bytes must be at least 1024")
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
			// send publishes one batch; a batch the server refuses whole as too large (its
			// TASKHOOK_MAX_BATCH_BYTES is below --max-batch-bytes) is split in halves, down to
			// one event, which is then refused alone.
			var send func(items []json.RawMessage, lines []int) error
			send = func(items []json.RawMessage, lines []int) error {
				key := batchKey(keyPrefix, lines[0], items)
				rs, err := pub.PublishBatch(cmd.Context(), items, client.IdempotencyKey(key))
				var ce *client.Error
				if errors.As(err, &ce) && ce.StatusCode == http.StatusRequestEntityTooLarge {
					if len(items) == 1 {
						refused = append(refused, refusedLine{Line: lines[0], Status: ce.StatusCode, Error: ce.Message, Event: items[0]})
						return nil
					}
					h := len(items) / 2
					if err := send(items[:h], lines[:h]); err != nil {
						return err
					}
					return send(items[h:], lines[h:])
				}
				if err != nil {
					_ = e.printPublish(sum, len(refused), "") // the batch's error is the one to report
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
				return nil
			}
			rd := bufio.NewReaderSize(in, 1<<20)
			// A line alone may be at most what a batch carries ("[" and "]" around it).
			maxLine := maxBatchBytes - 2
			lineNo := 0
			var items []json.RawMessage
			var lines []int
			var batchBytes, bytesRead int
			flush := func() error {
				if len(items) == 0 {
					return nil
				}
				err := send(items, lines)
				items, lines, batchBytes = nil, nil, 0
				if bar != nil {
					_ = bar.Add(bytesRead)
				}
				bytesRead = 0
				return err
			}
			for {
				line, n, tooLong, err := readLine(rd, maxLine)
				if err != nil && !errors.Is(err, io.EOF) {
					return err
				}
				eof := errors.Is(err, io.EOF)
				if n > 0 {
					lineNo++
					bytesRead += n
				}
				if lineNo == 1 {
					line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark, as some editors write
				}
				line = bytes.TrimSpace(line)
				switch {
				case tooLong:
					sum.Lines++
					refused = append(refused, refusedLine{Line: lineNo, Status: http.StatusRequestEntityTooLarge,
						Error: fmt.Sprintf("the line is %d bytes; a batch carries at most %d (--max-batch-bytes), so it was not sent", n, maxBatchBytes),
						Text:  string(bytes.ToValidUTF8(line[:min(len(line), 1024)], nil)) + "…"})
				case len(line) == 0:
				case !json.Valid(line):
					sum.Lines++
					refused = append(refused, refusedLine{Line: lineNo, Status: http.StatusBadRequest, Error: "the line is not valid JSON", Text: string(line)})
				default:
					sum.Lines++
					// Each item adds its bytes and a comma; the batch its brackets.
					if len(items) == batch || len(items) > 0 && batchBytes+len(line)+1 > maxBatchBytes {
						if err := flush(); err != nil {
							return err
						}
					}
					items, lines = append(items, json.RawMessage(line)), append(lines, lineNo)
					batchBytes += len(line) + 1
					if batchBytes == len(line)+1 {
						batchBytes++ // the brackets
					}
				}
				if eof {
					break
				}
			}
			if err := flush(); err != nil {
				return err
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
	f.IntVar(&maxBatchBytes, "max-batch-bytes", DefaultMaxBatchBytes, "bytes per request at most (ingest refuses more than its TASKHOOK_MAX_BATCH_BYTES, 16 MiB by default; a batch it refuses as too large is split); a longer line is refused alone")
	f.StringVar(&refusedPath, "refused", "", "where to write the refused lines (default <file>.refused.ndjson)")
	f.StringVar(&keyPrefix, "key-prefix", "", "Idempotency-Key prefix of the batches (default: derived from each batch's content)")
	return c
}

// DefaultMaxBatchBytes is the largest batch request publish sends by default: half of
// ingest's default TASKHOOK_MAX_BATCH_BYTES, so that a batch is not refused whole.
const DefaultMaxBatchBytes = 8 << 20

// readLine reads one line (with its newline) of at most max bytes and says how many bytes it
// had; a longer line is read to its end but only its first max bytes are kept (tooLong), so
// that memory stays bounded whatever the file holds.
func readLine(rd *bufio.Reader, max int) (line []byte, n int, tooLong bool, err error) {
	for {
		chunk, err := rd.ReadSlice('\n')
		n += len(chunk)
		if room := max + 1 - len(line); room > 0 {
			line = append(line, chunk[:min(len(chunk), room)]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return line, n, len(bytes.TrimRight(line, "\r\n")) > max, err
	}
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
