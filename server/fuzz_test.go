package server_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/throttlekit/throttlekit-go/client"
	"github.com/throttlekit/throttlekit-go/contract"
	"github.com/throttlekit/throttlekit-go/internal/testenv"
	"github.com/throttlekit/throttlekit-go/server"
)

var rpcMethods = []string{"Check", "CheckMany", "Peek", "Forecast", "Debit"}

// FuzzRequestBody sends any bytes as the body of every RateLimiter call to a real gRPC server
// (the embedded engine behind it, the request decoding the binary installs): the answer is a
// decision or a status about the request, never INTERNAL or UNKNOWN, and the server serves on.
func FuzzRequestBody(f *testing.F) {
	for _, m := range []proto.Message{
		&contract.CheckRequest{Policy: "api", Key: "k", Cost: 1},
		&contract.CheckRequest{Policy: "api", Key: "k", Cost: -1},
		&contract.CheckManyRequest{Policy: "api", Keys: []string{"a", "b", "a"}},
		&contract.DebitRequest{Policy: "llm", Key: "k", Tokens: 1 << 53},
		&contract.PeekRequest{Policy: "nope", Key: "k"},
		&contract.ForecastRequest{Policy: "monthly", Key: "k"},
	} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x05, 'a'})
	f.Add([]byte{0x0a, 0x02, 0xff, 0xfe})
	f.Add([]byte{0x0f})
	f.Fuzz(func(t *testing.T, body []byte) {
		conn := fuzzServer(t)
		for _, m := range rpcMethods {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			b := body
			err := conn.Invoke(ctx, "/throttlekit.v1.RateLimiter/"+m, &b, new([]byte), grpc.ForceCodecV2(testenv.RawCodec{}))
			cancel()
			switch code := status.Code(err); code {
			case codes.OK, codes.InvalidArgument, codes.NotFound, codes.Unimplemented:
			default:
				t.Fatalf("%s with body %x: %v", m, body, err)
			}
		}
	})
}

var (
	fuzzOnce sync.Once
	fuzzConn *grpc.ClientConn
	fuzzErr  error
)

// fuzzServer is one server for the whole fuzzing process: a server per input would measure
// start-ups, not requests.
func fuzzServer(t *testing.T) *grpc.ClientConn {
	fuzzOnce.Do(func() {
		var b *client.EngineBackend
		if b, fuzzErr = client.OpenEngine([]byte(testPolicies), client.EngineOptions{MaxKeys: 10_000}); fuzzErr != nil {
			return
		}
		var lis net.Listener
		if lis, fuzzErr = net.Listen("tcp", "127.0.0.1:0"); fuzzErr != nil {
			return
		}
		srv := grpc.NewServer(server.RequestDecoding()...)
		contract.RegisterRateLimiterServer(srv, server.New(b, server.Options{InProcessStore: true}))
		go func() { _ = srv.Serve(lis) }()
		fuzzConn, fuzzErr = grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	})
	if fuzzErr != nil {
		t.Fatal(fuzzErr)
	}
	return fuzzConn
}
