// Package h2 is Postern's HTTP/2 server (placeholder until the server lands; the conformance tests live in *_test.go).
package h2
