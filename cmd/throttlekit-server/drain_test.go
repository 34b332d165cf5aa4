package main

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/contract"
)

// slowRedis is just enough of a Redis for one check: HELLO is refused (so the client
// speaks RESP2), PING and connection setup answer at once, and a script call waits delay,
// then answers a gcra decision [allowed 1, limit 3, remaining 2, resetAt 42,
// retryAfterMs 0]. started receives a value as each script call arrives.
func slowRedis(t *testing.T, delay time.Duration) (addr string, started <-chan struct{}) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lis.Close() })
	ch := make(chan struct{}, 16)
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				for {
					cmd, err := readCommand(r)
					if err != nil {
						return
					}
					var reply string
					switch strings.ToUpper(cmd) {
					case "HELLO":
						reply = "-ERR unknown command 'HELLO'\r\n"
					case "PING":
						reply = "+PONG\r\n"
					case "EVALSHA", "EVAL":
						ch <- struct{}{}
						time.Sleep(delay)
						reply = "*5\r\n:1\r\n:3\r\n:2\r\n:42\r\n:0\r\n"
					default:
						reply = "+OK\r\n"
					}
					if _, err := conn.Write([]byte(reply)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return lis.Addr().String(), ch
}

// readCommand reads one RESP command (an array of bulk strings) and returns its name.
func readCommand(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil {
		return "", err
	}
	var name string
	for i := range n {
		head, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
		if err != nil {
			return "", err
		}
		arg := make([]byte, size+2)
		if _, err := io.ReadFull(r, arg); err != nil {
			return "", err
		}
		if i == 0 {
			name = string(arg[:size])
		}
	}
	return name, nil
}

// A stop signal lets the call in flight finish with its answer, then the server exits 0.
func TestStopDrainsCallsInFlight(t *testing.T) {
	redisAddr, started := slowRedis(t, time.Second)
	p := launch(t, "-c", writeFile(t, "policies.yaml", policies), "--port", "0", "--host", "127.0.0.1",
		"--redis", "redis://"+redisAddr, "--timeout", "5s")
	c := contract.NewRateLimiterClient(dial(t, p.waitListening(t)))

	type result struct {
		r   *contract.CheckResponse
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := c.Check(callCtx(t), &contract.CheckRequest{Policy: "api", Key: "k"})
		done <- result{r, err}
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatalf("the check never reached the store:\n%s", p.stderr.String())
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil || !res.r.GetDecision().GetAllowed() || res.r.GetDecision().GetResetAt() != 42 {
		t.Fatalf("the call in flight at SIGTERM: %v, %v; want the store's answer\n%s", res.r.GetDecision(), res.err, p.stderr.String())
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", code, p.stderr.String())
	}
}
