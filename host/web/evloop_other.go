//go:build !linux

package web

// The event loop needs epoll: elsewhere Config.EventLoop is ignored (with
// a warning) and every connection has its goroutine.
const eventLoopSupported = false

type eventLoops struct{}

func (*eventLoops) stop() {}

type loopConn struct{}

func (*loopConn) postCloseIfIdle() {}
func (*loopConn) postClose()       {}

func (hs *h1Server) adopt(*h1ServerConn, *handler) bool { return false }
