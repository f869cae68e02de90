// Package version carries the build version, set at link time:
//
//	go build -ldflags "-X github.com/taskhook/taskhook/pkg/version.Version=v1.2.3"
package version

// Version is the build version ("dev" for untagged builds).
var Version = "dev"

// UserAgent is the User-Agent of every outbound request.
func UserAgent() string { return "Taskhook/" + Version }
