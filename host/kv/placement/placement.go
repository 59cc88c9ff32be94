// Package placement decides which of several memcached servers holds a key,
// and which bytes go on the wire as the key, so that Postern and the other
// clients of a memcached cluster (Zimbra's proxy, libmemcached) look for a
// key on the same server.
//
// It holds pure functions and immutable types only: no connections, no
// clock, no client library. host/kv's memcached store uses it; a different
// memcached client can use it unchanged.
//
// Three distributions (store.distribution):
//
//   - [CRC32]: gomemcache's choice, CRC-32 (IEEE) of the key modulo the
//     number of servers. A key's server is fixed: when it is down, the key
//     is unavailable. Postern's default, unchanged since the first release.
//   - [ZimbraNginx]: Zimbra's proxy (its nginx memcache module): Jenkins'
//     one-at-a-time hash of the raw key in 64-bit arithmetic, modulo the
//     number of servers, in the configured order; when that server is down,
//     the next one in order.
//   - [Ketama]: consistent hashing as libmemcached's ketama (MD5, 160 points
//     per server): adding a server to n moves about 1/(n+1) of the keys,
//     where modulo moves most of them. When a key's server is down, the key
//     goes to the next point of a server that is up, as libmemcached does
//     after ejecting a server.
//
// And two key forms (store.key_form): [KeyRaw], the key itself, and
// [KeySHA256], the lower-case hex SHA-256 of the key, which Zimbra's proxy
// sends since ZCS 10.1 (ZBUG-2738). The server is always chosen from the
// raw key, as Zimbra does.
package placement

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// keyBufs holds byte copies of keys for the hashes that take a []byte:
// converting the string directly would allocate on every operation, as
// the slice escapes into the hash's assembly.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// hashKey returns h of key's bytes without allocating.
func hashKey(key string, h func([]byte) uint32) uint32 {
	bp := keyBufs.Get().(*[]byte)
	b := append((*bp)[:0], key...)
	v := h(b)
	*bp = b
	keyBufs.Put(bp)
	return v
}

// md5Word is the first four bytes of b's MD5, little-endian.
func md5Word(b []byte) uint32 {
	sum := md5.Sum(b)
	return binary.LittleEndian.Uint32(sum[:4])
}

// Names of the distributions, as store.distribution spells them.
const (
	NameCRC32       = "crc32"
	NameZimbraNginx = "zimbra-nginx"
	NameKetama      = "ketama"
)

// Names lists the distributions in the order the documentation gives them.
var Names = []string{NameCRC32, NameZimbraNginx, NameKetama}

// Placer chooses a key's server among a fixed list of servers.
//
// Server returns the index in the server list of the server that holds
// key. down reports whether a server is down (nil: none is); a placer that
// fails over skips those and returns -1 when every server is down, while
// [CRC32] ignores down and always names the key's own server. Callers
// check the returned server against down either way. Server does not
// allocate and is safe for concurrent use.
type Placer interface {
	Server(key string, down func(i int) bool) int
	// Len is the number of servers.
	Len() int
	// Name is the distribution's name ("crc32").
	Name() string
}

// New returns the placer named name (one of [Names]; "" is crc32) for
// servers, given as in the configuration: "host:port" or a Unix socket
// path. Only ketama reads the names: they are hashed into its ring, so two
// clients agree only if they list each server spelled the same way.
func New(name string, servers []string) (Placer, error) {
	if len(servers) == 0 {
		return nil, fmt.Errorf("placement: no servers")
	}
	switch name {
	case "", NameCRC32:
		return CRC32{N: len(servers)}, nil
	case NameZimbraNginx:
		return ZimbraNginx{N: len(servers)}, nil
	case NameKetama:
		return NewKetama(servers), nil
	}
	return nil, fmt.Errorf("placement: unknown distribution %q; use one of %s", name, strings.Join(Names, ", "))
}

// CRC32 is gomemcache's server selection: CRC-32 (IEEE) of the key, modulo
// N. It does not fail over.
type CRC32 struct{ N int }

// Server implements [Placer]; it ignores down.
func (c CRC32) Server(key string, _ func(int) bool) int {
	if c.N <= 1 {
		return 0
	}
	return int(hashKey(key, crc32.ChecksumIEEE) % uint32(c.N))
}

// Len implements [Placer].
func (c CRC32) Len() int { return c.N }

// Name implements [Placer].
func (CRC32) Name() string { return NameCRC32 }

// ZimbraNginx is Zimbra's proxy placement: [OneAtATime64] of the raw key
// modulo N, then the next server in order while the chosen one is down.
type ZimbraNginx struct{ N int }

// Server implements [Placer].
func (z ZimbraNginx) Server(key string, down func(int) bool) int {
	if z.N <= 0 {
		return -1
	}
	start := int(OneAtATime64(key) % uint64(z.N))
	for i := range z.N {
		s := (start + i) % z.N
		if down == nil || !down(s) {
			return s
		}
	}
	return -1
}

// Len implements [Placer].
func (z ZimbraNginx) Len() int { return z.N }

// Name implements [Placer].
func (ZimbraNginx) Name() string { return NameZimbraNginx }

// OneAtATime64 is Bob Jenkins' one-at-a-time hash over the bytes of key
// with a 64-bit accumulator, as Zimbra's nginx computes it in an
// ngx_uint_t on 64-bit machines: for each byte h += c; h += h<<10;
// h ^= h>>6; then h += h<<3; h ^= h>>11; h += h<<15.
func OneAtATime64(key string) uint64 {
	var h uint64
	for i := 0; i < len(key); i++ {
		h += uint64(key[i])
		h += h << 10
		h ^= h >> 6
	}
	h += h << 3
	h ^= h >> 11
	h += h << 15
	return h
}

// pointsPerServer is libmemcached's MEMCACHED_POINTS_PER_SERVER_KETAMA.
const pointsPerServer = 160

// Ketama is libmemcached's weighted ketama continuum with every weight 1
// (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED): each server gets 160 points, four
// per MD5 digest of "host-i" (port 11211) or "host:port-i" (any other port)
// for i = 0..39, each point a little-endian 32-bit word of the digest. A
// key hashes to the first four bytes of its MD5, little-endian, and belongs
// to the first point at or after that value, wrapping around.
type Ketama struct {
	points []point // sorted by value
	n      int
}

type point struct {
	value  uint32
	server int
}

// NewKetama builds the continuum of servers (see [New] for their form).
func NewKetama(servers []string) *Ketama {
	n := len(servers)
	k := &Ketama{n: n}
	per := ketamaPoints(n)
	for i, s := range servers {
		host, port := splitServer(s)
		for j := 0; j < per/4; j++ {
			var name string
			if port == 11211 {
				name = host + "-" + strconv.Itoa(j)
			} else {
				name = host + ":" + strconv.Itoa(port) + "-" + strconv.Itoa(j)
			}
			sum := md5.Sum([]byte(name))
			for w := range 4 {
				k.points = append(k.points, point{binary.LittleEndian.Uint32(sum[4*w:]), i})
			}
		}
	}
	// libmemcached sorts with qsort, which does not order equal values;
	// two servers sharing a 32-bit point is too rare to matter.
	slices.SortStableFunc(k.points, func(a, b point) int {
		switch {
		case a.value < b.value:
			return -1
		case a.value > b.value:
			return 1
		}
		return 0
	})
	return k
}

// ketamaPoints is libmemcached's points per server for n servers of equal
// weight, computed in single precision as it does: floor(1/n * 160/4 * n +
// 1e-10) * 4, which is 160 except where float rounding makes it 156.
func ketamaPoints(n int) int {
	pct := float32(1) / float32(n)
	v := pct*float32(pointsPerServer)/4*float32(n) + float32(0.0000000001)
	return int(math.Floor(float64(v))) * 4
}

// splitServer returns the host and port of "host:port" ("[v6]:port" too);
// a Unix socket path is its own host with port 0.
func splitServer(s string) (string, int) {
	host, portText, err := net.SplitHostPort(s)
	if err != nil {
		return s, 0
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return s, 0
	}
	return host, port
}

// KeyHash is the hash a key is looked up by in the continuum: the first
// four bytes of its MD5, little-endian (libmemcached's MEMCACHED_HASH_MD5).
func (k *Ketama) KeyHash(key string) uint32 {
	return hashKey(key, md5Word)
}

// Server implements [Placer].
func (k *Ketama) Server(key string, down func(int) bool) int {
	if k.n == 0 {
		return -1
	}
	if k.n == 1 {
		// libmemcached does not hash with one server.
		if down != nil && down(0) {
			return -1
		}
		return 0
	}
	h := k.KeyHash(key)
	start, _ := slices.BinarySearchFunc(k.points, h, func(p point, h uint32) int {
		switch {
		case p.value < h:
			return -1
		case p.value > h:
			return 1
		}
		return 0
	})
	for i := range k.points {
		p := k.points[(start+i)%len(k.points)]
		if down == nil || !down(p.server) {
			return p.server
		}
	}
	return -1
}

// Len implements [Placer].
func (k *Ketama) Len() int { return k.n }

// Name implements [Placer].
func (*Ketama) Name() string { return NameKetama }

// KeyForm is the form of a key on the wire (store.key_form).
type KeyForm int

// Key forms.
const (
	// KeyRaw sends the key as it is (Zimbra before 10.1, and Postern's
	// default).
	KeyRaw KeyForm = iota
	// KeySHA256 sends the lower-case hex SHA-256 of the key, 64 bytes
	// (Zimbra 10.1 and later).
	KeySHA256
)

// ParseKeyForm reads store.key_form: "raw" (or "") or "sha256".
func ParseKeyForm(s string) (KeyForm, error) {
	switch s {
	case "", "raw":
		return KeyRaw, nil
	case "sha256":
		return KeySHA256, nil
	}
	return 0, fmt.Errorf("placement: unknown key form %q; use raw or sha256", s)
}

// String returns the form's configuration name.
func (f KeyForm) String() string {
	if f == KeySHA256 {
		return "sha256"
	}
	return "raw"
}

// Wire returns the key as sent to memcached in this form.
func (f KeyForm) Wire(key string) string {
	if f != KeySHA256 {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
