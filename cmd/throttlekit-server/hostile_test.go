package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
)

// rawConn is an HTTP/2 client written frame by frame, to behave as no gRPC library would.
type rawConn struct {
	c  net.Conn
	fr *http2.Framer
	mu sync.Mutex // writes
	// what the reader saw
	closed  chan struct{}
	status  sync.Map // stream ID -> grpc-status, from a response HEADERS
	refused sync.Map // stream ID -> RST_STREAM code
}

// dialRaw connects to addr; with handshake, it sends the client preface and SETTINGS (never
// an acknowledgement or a ping answer afterwards).
func dialRaw(t *testing.T, addr string, handshake bool) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	r := &rawConn{c: c, fr: http2.NewFramer(c, c), closed: make(chan struct{})}
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if handshake {
		if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
			t.Fatal(err)
		}
		if err := r.fr.WriteSettings(); err != nil {
			t.Fatal(err)
		}
	}
	go r.read()
	return r
}

// read consumes every frame until the connection ends, noting statuses and refusals.
func (r *rawConn) read() {
	defer close(r.closed)
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if v := f.PseudoValue("status"); v != "" || f.StreamEnded() {
				for _, h := range f.Fields {
					if h.Name == "grpc-status" {
						r.status.Store(f.StreamID, h.Value)
					}
				}
			}
		case *http2.RSTStreamFrame:
			r.refused.Store(f.StreamID, f.ErrCode)
		}
	}
}

// openStreams sends n HEADERS frames for method, never a DATA frame; extra are header
// fields added to each.
func (r *rawConn) openStreams(t *testing.T, n int, method string, extra ...hpack.HeaderField) {
	t.Helper()
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	fields := append([]hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"}, {Name: ":path", Value: method},
		{Name: ":authority", Value: "localhost"}, {Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
	}, extra...)
	for _, f := range fields {
		if err := enc.WriteField(f); err != nil {
			t.Fatal(err)
		}
	}
	block := buf.Bytes()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range n {
		err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block, EndHeaders: true})
		if err != nil {
			t.Fatalf("stream %d: %v", 2*i+1, err)
		}
	}
}

// waitClosed fails unless the server closes the connection within d.
func (r *rawConn) waitClosed(t *testing.T, what string, d time.Duration) {
	t.Helper()
	select {
	case <-r.closed:
	case <-time.After(d):
		t.Errorf("%s: the server kept the connection open for %s", what, d)
	}
}

// rssBytes is the resident set of process pid.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// gauge reads one unlabelled metric from the server's /metrics.
func gauge(t *testing.T, metricsAddr, name string) float64 {
	t.Helper()
	_, body := httpGet(t, "http://"+metricsAddr+"/metrics")
	v := metricValue(t, body, name)
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("metric %s: %q", name, v)
	}
	return f
}

// Four connections opening 5,000 streams each (HEADERS, never DATA) hold a bounded number of
// goroutines and bytes, and another client is answered meanwhile. (The server is built
// without the race detector, whose own memory would count as the server's.)
func TestHalfOpenStreamsAreBounded(t *testing.T) {
	p := launchBinary(t, plainBinary(t), "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0")
	lines := waitReadyFile(t, p, p.ready)
	addr, metricsAddr := lines[0], strings.TrimPrefix(lines[1], "metrics=")
	c := contract.NewRateLimiterClient(dial(t, addr))
	if _, err := c.Check(callCtx(t), &contract.CheckRequest{Policy: "api", Key: "warm"}); err != nil {
		t.Fatal(err)
	}
	baseRSS, baseG := rssBytes(t, p.cmd.Process.Pid), gauge(t, metricsAddr, "go_goroutines")

	const conns, streams = 4, 5000
	raws := make([]*rawConn, conns)
	for i := range raws {
		raws[i] = dialRaw(t, addr, true)
		raws[i].openStreams(t, streams, "/throttlekit.v1.RateLimiter/Check")
	}
	// Sample while the server works through the 20,000 streams: 4 s at most.
	var peakRSS int64
	var peakG float64
	for i := 0; i < 40; i++ {
		peakRSS = max(peakRSS, rssBytes(t, p.cmd.Process.Pid))
		peakG = max(peakG, gauge(t, metricsAddr, "go_goroutines"))
		if i%10 == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := c.Check(ctx, &contract.CheckRequest{Policy: "api", Key: "other-" + strconv.Itoa(i)})
			cancel()
			if err != nil {
				t.Errorf("another client's Check during the flood: %v (want an answer within 1s)", err)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("RSS %d MiB -> peak %d MiB (+%d MiB); goroutines %.0f -> peak %.0f",
		baseRSS>>20, peakRSS>>20, (peakRSS-baseRSS)>>20, baseG, peakG)
	if grew := peakRSS - baseRSS; grew > 64<<20 {
		t.Errorf("the server's RSS grew by %d MiB under 4 x 5,000 half-open streams; at most 64 MiB", grew>>20)
	}
	// 100 streams per connection, a handful of goroutines for each, with a wide margin.
	if peakG-baseG > conns*defaultMaxStreams*3 {
		t.Errorf("goroutines grew from %.0f to %.0f under 4 x 5,000 half-open streams", baseG, peakG)
	}
	var refused int
	for _, r := range raws {
		r.refused.Range(func(any, any) bool { refused++; return true })
	}
	if refused == 0 {
		t.Errorf("no stream beyond --max-concurrent-streams was refused")
	}
}

// A connection that never sends the preface, and one that sends it and SETTINGS and then
// nothing, are closed within the handshake and idle bounds.
func TestSilentConnectionsAreClosed(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0",
		"--handshake-timeout", "1s", "--max-connection-idle", "1s")
	addr := p.waitListening(t)
	mute, idle := dialRaw(t, addr, false), dialRaw(t, addr, true)
	mute.waitClosed(t, "no preface, --handshake-timeout 1s", 5*time.Second)
	// Idle: a GOAWAY after 1 s, then gRPC waits up to 5 s for the ping this client never
	// answers before closing.
	idle.waitClosed(t, "preface and SETTINGS, then silence, --max-connection-idle 1s", 15*time.Second)
}

// Connections beyond --max-connections are closed at once; one closing frees its slot.
func TestConnectionCap(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0", "--max-connections", "2")
	addr := p.waitListening(t)
	a, b := dialRaw(t, addr, true), dialRaw(t, addr, true)
	// Without the preface: the server may close it before the client writes, and a write
	// would then fail (EPIPE) instead of the close being observed.
	extra := dialRaw(t, addr, false)
	extra.waitClosed(t, "a third connection with --max-connections 2", 5*time.Second)
	select {
	case <-a.closed:
		t.Fatal("the first connection was closed")
	case <-b.closed:
		t.Fatal("the second connection was closed")
	default:
	}
	_ = a.c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := contract.NewRateLimiterClient(dial(t, addr)).Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k"})
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after one of two connections closed, a new client still gets %v", err)
		}
	}
	if !strings.Contains(p.stderr.String(), "connections refused") {
		t.Errorf("the refusal is not logged:\n%s", p.stderr.String())
	}
}

// With a token required, a stream without it is refused UNAUTHENTICATED as its headers
// arrive: no body is awaited, none is decoded, no handler runs.
func TestUnauthenticatedStreamRefusedBeforeItsBody(t *testing.T) {
	token := writeFile(t, "token", "s3cret\n")
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0", "--auth-token-file", token)
	addr := p.waitListening(t)
	r := dialRaw(t, addr, true)
	r.openStreams(t, 1, "/throttlekit.v1.RateLimiter/Check")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, ok := r.status.Load(uint32(1)); ok {
			if v != strconv.Itoa(int(codes.Unauthenticated)) {
				t.Fatalf("grpc-status %v for a stream without the token, want %d", v, codes.Unauthenticated)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a stream without the token and without a body got no answer within 5s: the server waits for its body")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Through a gRPC client: a malformed body without the token is UNAUTHENTICATED, not a
	// decoding error.
	body := []byte{0x0a, 0x05, 'a'}
	err := dial(t, addr).Invoke(callCtx(t), "/throttlekit.v1.RateLimiter/Check", &body, new([]byte),
		grpc.ForceCodecV2(testenv.RawCodec{}))
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a malformed body without the token: %v, want UNAUTHENTICATED", err)
	}
	ctx := metadata.AppendToOutgoingContext(callCtx(t), "authorization", "Bearer s3cret")
	if _, err := contract.NewRateLimiterClient(dial(t, addr)).Check(ctx, &contract.CheckRequest{Policy: "api", Key: "k"}); err != nil {
		t.Fatalf("with the token: %v", err)
	}
}

// A request body that does not decode is INVALID_ARGUMENT, and the server serves on.
func TestMalformedBodyIsInvalidArgument(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0")
	conn := dial(t, p.waitListening(t))
	for name, body := range map[string][]byte{
		"truncated field":            {0x0a, 0x05, 'a'},
		"string not UTF-8":           {0x0a, 0x02, 0xff, 0xfe},
		"wire type 7 does not exist": {0x0f},
	} {
		for _, method := range []string{"Check", "CheckMany", "Peek", "Forecast", "Debit"} {
			b := body
			err := conn.Invoke(callCtx(t), "/throttlekit.v1.RateLimiter/"+method, &b, new([]byte), grpc.ForceCodecV2(testenv.RawCodec{}))
			if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "malformed request") {
				t.Errorf("%s, %s: %v, want INVALID_ARGUMENT", name, method, err)
			}
		}
	}
	if _, err := contract.NewRateLimiterClient(conn).Check(callCtx(t), &contract.CheckRequest{Policy: "api", Key: "k"}); err != nil {
		t.Fatalf("a well-formed call afterwards: %v", err)
	}
}

// The CheckMany cap is a flag; over it, INVALID_ARGUMENT naming it, and nothing charged.
func TestMaxKeysPerCallFlag(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0", "--max-keys-per-call", "3")
	c := contract.NewRateLimiterClient(dial(t, p.waitListening(t)))
	_, err := c.CheckMany(callCtx(t), &contract.CheckManyRequest{Policy: "api", Keys: []string{"a", "a", "a", "a"}})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "at most 3 keys") {
		t.Fatalf("4 keys over a cap of 3: %v", err)
	}
	if r, err := c.Peek(callCtx(t), &contract.PeekRequest{Policy: "api", Key: "a"}); err != nil || r.GetDecision().GetRemaining() != 5 {
		t.Fatalf("after the refused batch: %v, %v; want nothing charged", r.GetDecision(), err)
	}
}

// A batch that outruns --timeout on the memory store, with no outage, is not admitted by
// --fail open: the server either finishes it (the batch is one atomic run, which a timeout
// cannot stop once it has written) and answers the limiter's own decisions, or answers
// UNAVAILABLE. 1,000 copies of one key tell the two apart: the limiter admits 5 of them.
func TestFailOpenDoesNotAdmitWhatTheServerCouldNotFinish(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0",
		"--fail", "open", "--timeout", "1ms")
	c := contract.NewRateLimiterClient(dial(t, p.waitListening(t)))
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "k"
	}
	var md metadata.MD
	r, err := c.CheckMany(callCtx(t), &contract.CheckManyRequest{Policy: "api", Keys: keys}, grpc.Header(&md))
	if err != nil {
		if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "the server could not finish") {
			t.Fatalf("%v, want UNAVAILABLE saying the server could not finish", err)
		}
		return
	}
	admitted := 0
	for _, d := range r.GetDecisions() {
		if d.GetAllowed() {
			admitted++
		}
	}
	if len(r.GetDecisions()) != 1000 || admitted != 5 || len(md.Get("throttlekit-synthesized")) != 0 {
		t.Fatalf("1,000 copies of a key with a limit of 5 in 1ms: %d decisions, %d admitted, synthesized header %v; want the limiter's 5 or UNAVAILABLE",
			len(r.GetDecisions()), admitted, md.Get("throttlekit-synthesized"))
	}
}

// --metrics-host beyond loopback is warned about, as --host is.
func TestMetricsHostBeyondLoopbackWarns(t *testing.T) {
	p := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0",
		"--metrics-host", "0.0.0.0", "--metrics-port", "0")
	p.waitListening(t)
	p.stop(t)
	if log := p.stderr.String(); !strings.Contains(log, "level=WARN") || !strings.Contains(log, "metrics listening beyond loopback") {
		t.Fatalf("no warning for metrics on 0.0.0.0:\n%s", log)
	}
	q := launch(t, "-c", writeFile(t, "p.yaml", doorPolicies), "--host", "127.0.0.1", "--port", "0", "--metrics-port", "0")
	q.waitListening(t)
	q.stop(t)
	if strings.Contains(q.stderr.String(), "beyond loopback") {
		t.Fatalf("a warning for metrics on loopback:\n%s", q.stderr.String())
	}
}
