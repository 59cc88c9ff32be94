//go:build !linux

package web

import (
	"crypto/tls"
	"github.com/postern/postern/host/web/internal/h2"
	"net"
)

// The event loops need epoll: elsewhere every connection has its
// goroutine, whatever Config.NoEventLoop says.
const eventLoopSupported = false

type eventLoops struct{}

func (*eventLoops) stop() {}

type loopConn struct{}

func (*loopConn) postCloseIfIdle() {}
func (*loopConn) postClose()       {}

func (hs *h1Server) adopt(*h1ServerConn, *handler) bool         { return false }
func (hs *h1Server) takeOver(*h1ServerConn, *handler) *loopConn { return nil }
func (*loopConn) start()                                        {}

func (hs *h1Server) wrapTLS(c net.Conn) net.Conn { return c }
func goDirect(*tls.Conn)                         {}

func (hs *h1Server) adoptH2(*h1ServerConn) bool { return false }

func (h *handler) loopFastH2(*h2.Stream) bool { return false }

// loopH2 is an h2 connection on a loop: none here.
type loopH2 struct{}

func asLoopH2(net.Conn) *loopH2 { return nil }
