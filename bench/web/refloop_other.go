//go:build !linux

package main

import "errors"

// runLoopProxy needs epoll: the event-loop reference runs on Linux only.
func runLoopProxy(addr string, upstreams []string) error {
	return errors.New("the event-loop reference proxy needs Linux (epoll)")
}
