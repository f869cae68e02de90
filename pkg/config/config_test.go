package config

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

type sample struct {
	URL     string        `env:"NATS_URL" envDefault:"nats://127.0.0.1:4222" help:"NATS server(s)"`
	Tokens  string        `env:"TASKHOOK_INGEST_TOKENS,required,notEmpty" help:"bearer tokens"`
	Timeout time.Duration `env:"TASKHOOK_PUBLISH_TIMEOUT" envDefault:"5s" help:"publish timeout"`
	Allow   bool          `env:"TASKHOOK_ALLOW_HTTP" envDefault:"false" help:"allow http"`
}

func TestLoad(t *testing.T) {
	var c sample
	if err := Load(&c, []string{"TASKHOOK_INGEST_TOKENS=a,b", "TASKHOOK_PUBLISH_TIMEOUT=2s"}); err != nil {
		t.Fatal(err)
	}
	if c.URL != "nats://127.0.0.1:4222" || c.Timeout != 2*time.Second || c.Tokens != "a,b" {
		t.Fatalf("%+v", c)
	}
}

func TestLoadErrorsAreOneLineNamingTheVariable(t *testing.T) {
	cases := map[string][]string{
		"TASKHOOK_INGEST_TOKENS":   nil,
		"TASKHOOK_PUBLISH_TIMEOUT": {"TASKHOOK_INGEST_TOKENS=a", "TASKHOOK_PUBLISH_TIMEOUT=soon"},
		"TASKHOOK_ALLOW_HTTP":      {"TASKHOOK_INGEST_TOKENS=a", "TASKHOOK_ALLOW_HTTP=maybe"},
	}
	for want, environ := range cases {
		var c sample
		err := Load(&c, environ)
		if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("want one line starting with %s, got %v", want, err)
		}
	}
	var c sample
	if err := Load(&c, []string{"TASKHOOK_INGEST_TOKENS="}); err == nil || !strings.Contains(err.Error(), "TASKHOOK_INGEST_TOKENS is required") {
		t.Errorf("empty required: %v", err)
	}
}

func TestUsageListsEveryVariable(t *testing.T) {
	var out bytes.Buffer
	done, err := HandleArgs([]string{"-h"}, &out, "ingest", "Ingest task events.", &sample{}, nil)
	if !done || err != nil {
		t.Fatal(done, err)
	}
	for _, s := range []string{"NATS_URL", "nats://127.0.0.1:4222", "TASKHOOK_INGEST_TOKENS", "(required)", "TASKHOOK_PUBLISH_TIMEOUT", "5s", "allow http"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("usage lacks %q:\n%s", s, out.String())
		}
	}
	if _, err := HandleArgs([]string{"--bogus"}, &out, "ingest", "", &sample{}, nil); err == nil {
		t.Error("unknown argument accepted")
	}
}

func TestSplitList(t *testing.T) {
	if got := strings.Join(SplitList(" a, ,b ,"), "|"); got != "a|b" {
		t.Fatal(got)
	}
}

func TestBytes(t *testing.T) {
	for in, want := range map[string]int64{"4MiB": 4 << 20, "512KiB": 512 << 10, "1048576": 1 << 20, "2MB": 2e6, " 1 GiB ": 1 << 30, "10B": 10} {
		var b Bytes
		if err := b.UnmarshalText([]byte(in)); err != nil || int64(b) != want {
			t.Errorf("%q: %d %v", in, b, err)
		}
	}
	for _, in := range []string{"", "4XB", "-1", "MiB", "99999999999GiB", "1.5MiB"} {
		var b Bytes
		if err := b.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("%q parsed as %d", in, b)
		}
	}
}
