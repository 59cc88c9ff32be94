// Package proxyproto reads and writes the PROXY protocol header (HAProxy's
// spec, versions 1 and 2) that carries a client's address across a TCP
// proxy: read from trusted load balancers in front of Postern, written to
// backends that accept it.
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Header is the addresses a PROXY header carries. Local is true for a v2
// LOCAL command or a v1 UNKNOWN: the connection is the proxy's own (a
// health check) and the real addresses are those of the socket.
type Header struct {
	Source, Dest netip.AddrPort
	Local        bool
}

var sigV2 = []byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// ErrNoHeader means the stream does not start with a PROXY header.
var ErrNoHeader = errors.New("proxyproto: no PROXY header")

// Read parses a v1 or v2 header at the start of r.
func Read(r *bufio.Reader) (Header, error) {
	b, err := r.Peek(1)
	if err != nil {
		return Header{}, err
	}
	switch b[0] {
	case 'P':
		return readV1(r)
	case 0x0D:
		return readV2(r)
	}
	return Header{}, ErrNoHeader
}

func readV1(r *bufio.Reader) (Header, error) {
	var line []byte
	for len(line) < 107 { // the spec's maximum v1 line
		c, err := r.ReadByte()
		if err != nil {
			return Header{}, err
		}
		line = append(line, c)
		if c == '\n' {
			break
		}
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return Header{}, errors.New("proxyproto: v1 header longer than 107 bytes or not CRLF-terminated")
	}
	f := strings.Split(string(line[:len(line)-2]), " ")
	if len(f) < 2 || f[0] != "PROXY" {
		return Header{}, ErrNoHeader
	}
	if f[1] == "UNKNOWN" {
		return Header{Local: true}, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return Header{}, fmt.Errorf("proxyproto: malformed v1 header %q", line)
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	sp, err3 := strconv.ParseUint(f[4], 10, 16)
	dp, err4 := strconv.ParseUint(f[5], 10, 16)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || src.Is4() != (f[1] == "TCP4") || dst.Is4() != src.Is4() {
		return Header{}, fmt.Errorf("proxyproto: malformed v1 addresses %q", line)
	}
	return Header{Source: netip.AddrPortFrom(src, uint16(sp)), Dest: netip.AddrPortFrom(dst, uint16(dp))}, nil
}

func readV2(r *bufio.Reader) (Header, error) {
	hdr := make([]byte, 16)
	if _, err := readFull(r, hdr); err != nil {
		return Header{}, err
	}
	if !bytes.Equal(hdr[:12], sigV2) {
		return Header{}, ErrNoHeader
	}
	if hdr[12]>>4 != 2 {
		return Header{}, fmt.Errorf("proxyproto: version %d; only 2 is defined", hdr[12]>>4)
	}
	n := int(binary.BigEndian.Uint16(hdr[14:16]))
	if n > 1024 {
		return Header{}, fmt.Errorf("proxyproto: v2 header of %d bytes is too long", n)
	}
	body := make([]byte, n)
	if _, err := readFull(r, body); err != nil {
		return Header{}, err
	}
	switch hdr[12] & 0x0F {
	case 0: // LOCAL
		return Header{Local: true}, nil
	case 1: // PROXY
	default:
		return Header{}, fmt.Errorf("proxyproto: unknown v2 command %d", hdr[12]&0x0F)
	}
	switch hdr[13] {
	case 0x11: // TCP over IPv4
		if n < 12 {
			return Header{}, errors.New("proxyproto: short v2 IPv4 address block")
		}
		src := netip.AddrFrom4([4]byte(body[0:4]))
		dst := netip.AddrFrom4([4]byte(body[4:8]))
		return Header{Source: netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[8:10])),
			Dest: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[10:12]))}, nil
	case 0x21: // TCP over IPv6
		if n < 36 {
			return Header{}, errors.New("proxyproto: short v2 IPv6 address block")
		}
		src := netip.AddrFrom16([16]byte(body[0:16]))
		dst := netip.AddrFrom16([16]byte(body[16:32]))
		return Header{Source: netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[32:34])),
			Dest: netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[34:36]))}, nil
	case 0x00: // UNSPEC
		return Header{Local: true}, nil
	}
	return Header{}, fmt.Errorf("proxyproto: unsupported v2 address family/protocol %#x", hdr[13])
}

func readFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// AppendV2 appends a v2 PROXY header for a TCP connection from src to dst.
// Mixed families are sent as IPv6 (IPv4-mapped).
func AppendV2(b []byte, src, dst netip.AddrPort) []byte {
	b = append(b, sigV2...)
	b = append(b, 0x21) // version 2, PROXY
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	if s.Is4() && d.Is4() {
		b = append(b, 0x11, 0, 12)
		a, c := s.As4(), d.As4()
		b = append(b, a[:]...)
		b = append(b, c[:]...)
	} else {
		b = append(b, 0x21, 0, 36)
		a, c := s.As16(), d.As16()
		b = append(b, a[:]...)
		b = append(b, c[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	return binary.BigEndian.AppendUint16(b, dst.Port())
}
