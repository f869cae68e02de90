package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Bytes is a size in bytes written as an integer, optionally with a unit: 4MiB, 512KiB, 1GiB
// (powers of 1024) or kB, MB, GB (powers of 1000).
type Bytes int64

var units = []struct {
	suffix string
	factor int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}

// UnmarshalText implements encoding.TextUnmarshaler (the environment's parser uses it).
func (b *Bytes) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	factor := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, factor = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/factor {
		return fmt.Errorf("%q is not a size such as 4MiB, 512KiB or 1048576", string(text))
	}
	*b = Bytes(n * factor)
	return nil
}
