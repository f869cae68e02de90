// Package tools tests what publishers, receivers and operators use against the real binaries:
// the Go client, taskhookctl, the receiver kits of examples/receivers and make run.
package tools
