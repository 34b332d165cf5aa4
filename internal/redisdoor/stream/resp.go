package stream

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// RESP2, the part a stream needs: commands out as arrays of bulk strings, replies in as
// go-redis presents them (integer -> int64, bulk or simple string -> string, null -> nil,
// array -> []any, an error reply -> errorReply), so that one decoder of script replies serves
// both ways to Redis.

// errorReply is an error reply from Redis. It satisfies go-redis's redis.Error, so
// classifyRedisError treats it exactly like the errors go-redis returns.
type errorReply string

func (e errorReply) Error() string { return string(e) }
func (errorReply) RedisError()     {}

// maxReplyLength bounds one bulk string or array header read from Redis: the scripts answer
// with a few integers, so anything this large is a broken stream, not a reply.
const maxReplyLength = 512 << 20

// appendCommand appends args as one RESP command, formatting numbers as go-redis does, so the
// scripts see the same ARGV whichever way the call travelled.
func appendCommand(buf []byte, args []any) ([]byte, error) {
	buf = append(buf, '*')
	buf = strconv.AppendInt(buf, int64(len(args)), 10)
	buf = append(buf, '\r', '\n')
	var num [24]byte
	for _, a := range args {
		var s []byte
		switch v := a.(type) {
		case string:
			buf = appendBulkString(buf, v)
			continue
		case []byte:
			s = v
		case int:
			s = strconv.AppendInt(num[:0], int64(v), 10)
		case int64:
			s = strconv.AppendInt(num[:0], v, 10)
		case float64:
			s = strconv.AppendFloat(num[:0], v, 'f', -1, 64)
		default:
			return buf, fmt.Errorf("cannot send an argument of type %T to Redis", a)
		}
		buf = append(buf, '$')
		buf = strconv.AppendInt(buf, int64(len(s)), 10)
		buf = append(buf, '\r', '\n')
		buf = append(buf, s...)
		buf = append(buf, '\r', '\n')
	}
	return buf, nil
}

func appendBulkString(buf []byte, s string) []byte {
	buf = append(buf, '$')
	buf = strconv.AppendInt(buf, int64(len(s)), 10)
	buf = append(buf, '\r', '\n')
	buf = append(buf, s...)
	return append(buf, '\r', '\n')
}

var errProtocol = errors.New("redis: malformed reply")

// readReply reads one whole reply. An error reply is returned as the value (errorReply), not
// as the error: the error is for the stream itself (closed, malformed), after which nothing
// more can be read from it.
func readReply(rd *bufio.Reader) (any, error) {
	line, err := readLine(rd)
	if err != nil {
		return nil, err
	}
	if len(line) == 0 {
		return nil, errProtocol
	}
	body := line[1:]
	switch line[0] {
	case ':':
		return parseInt(body)
	case '+':
		return string(body), nil
	case '-':
		return errorReply(body), nil
	case '$':
		n, err := parseLength(body)
		if err != nil || n < 0 {
			return nil, err
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(rd, b); err != nil {
			return nil, err
		}
		if b[n] != '\r' || b[n+1] != '\n' {
			return nil, errProtocol
		}
		return string(b[:n]), nil
	case '*':
		n, err := parseLength(body)
		if err != nil || n < 0 {
			return nil, err
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = readReply(rd); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, errProtocol
}

// readLine returns the next line without its CRLF; the slice is valid until the next read.
func readLine(rd *bufio.Reader) ([]byte, error) {
	line, err := rd.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errProtocol
		}
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, errProtocol
	}
	return line[:len(line)-2], nil
}

func parseInt(b []byte) (int64, error) {
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, errProtocol
	}
	return v, nil
}

// parseLength reads a bulk or array length: -1 (null) or 0..maxReplyLength.
func parseLength(b []byte) (int, error) {
	v, err := parseInt(b)
	if err != nil || v < -1 || v > maxReplyLength {
		return 0, errProtocol
	}
	return int(v), nil
}
