package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// BenchmarkServer_h2 is a whole TLS listener on loopback serving h2,
// anonymous GETs without plugins (the h2 fast path): raw h2 clients (16
// connections, one stream at a time each, as bench/web's h2load -m1),
// the front end, the canned backend. cpu-ns/op includes the clients' and
// the backend's share, the same from one build to the next: it is for
// comparing changes to the h2 server and the h2 fast path in-process,
// where bench/web's runs move 10-20% from pass to pass.
func BenchmarkServer_h2(b *testing.B) {
	certs, tlsConf := fastTLS(b)
	cfg := simple("", cannedBackend(b))
	cfg.Listeners = []Listener{{Name: "https", Address: "127.0.0.1:0", TLS: true}}
	quiet := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := New(Options{Config: cfg, Logger: quiet, Certs: certs})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	addr := s.Addr("https").String()
	tc := tlsConf.Clone()
	tc.NextProtos = []string{"h2"}
	b.ReportAllocs()
	b.SetParallelism(8)
	cpu0 := processCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c, err := tls.Dial("tcp", addr, tc)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		bw := bufio.NewWriter(c)
		fr := http2.NewFramer(bw, bufio.NewReaderSize(c, 32<<10))
		fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
		io.WriteString(bw, http2.ClientPreface)
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30})
		fr.WriteWindowUpdate(0, 1<<30)
		bw.Flush()
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		id := uint32(1)
		for pb.Next() {
			hb.Reset()
			for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "bench.test"}, {":path", "/bench"}, {"user-agent", "h2load"}} {
				enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
			}
			if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
				b.Error(err)
				return
			}
			if err := bw.Flush(); err != nil {
				b.Error(err)
				return
			}
			for done := false; !done; {
				f, err := fr.ReadFrame()
				if err != nil {
					b.Error(err)
					return
				}
				switch f := f.(type) {
				case *http2.SettingsFrame:
					if !f.IsAck() {
						fr.WriteSettingsAck()
						bw.Flush()
					}
				case *http2.MetaHeadersFrame:
					done = f.StreamID == id && f.StreamEnded()
				case *http2.DataFrame:
					done = f.StreamID == id && f.StreamEnded()
				case *http2.RSTStreamFrame, *http2.GoAwayFrame:
					b.Errorf("unexpected %v", f)
					return
				}
			}
			id += 2
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}
