package stream

import (
	"bufio"
	"reflect"
	"strings"
	"testing"
)

func TestAppendCommandFormatsLikeGoRedis(t *testing.T) {
	got, err := appendCommand(nil, []any{"evalsha", "ab", 1, "k", int64(-42), 2.5, []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	want := "*7\r\n$7\r\nevalsha\r\n$2\r\nab\r\n$1\r\n1\r\n$1\r\nk\r\n$3\r\n-42\r\n$3\r\n2.5\r\n$1\r\nx\r\n"
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if _, err := appendCommand(nil, []any{"x", struct{}{}}); err == nil {
		t.Fatal("an argument of an unknown type was accepted")
	}
}

func TestReadReplyDecodesLikeGoRedis(t *testing.T) {
	in := "*5\r\n:1\r\n:-7\r\n$3\r\nabc\r\n$-1\r\n*2\r\n+OK\r\n-ERR inner\r\n" + "-NOSCRIPT No matching script\r\n" + "*-1\r\n"
	rd := bufio.NewReader(strings.NewReader(in))
	for i, want := range []any{
		[]any{int64(1), int64(-7), "abc", nil, []any{"OK", errorReply("ERR inner")}},
		errorReply("NOSCRIPT No matching script"),
		nil,
	} {
		got, err := readReply(rd)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("reply %d: %#v, %v; want %#v", i, got, err, want)
		}
	}
}

// A broken stream is an error, whatever the break: never a panic, never a made-up reply.
func TestReadReplyRejectsMalformedInput(t *testing.T) {
	valid := "*3\r\n:1\r\n$5\r\nhello\r\n*1\r\n:2\r\n"
	for cut := 0; cut < len(valid); cut++ {
		if got, err := readReply(bufio.NewReader(strings.NewReader(valid[:cut]))); err == nil {
			t.Fatalf("%q read as %#v", valid[:cut], got)
		}
	}
	for _, bad := range []string{"?x\r\n", ":12a\r\n", "$5\r\nhelloXY", "$-2\r\n", "*99999999999\r\n", ":1\n", "\r\n", "$3\r\nabcd\r\n"} {
		if got, err := readReply(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Fatalf("%q read as %#v", bad, got)
		}
	}
}
