package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// readyFile is the --ready-file a started server wrote: the gRPC address on its first line,
// "metrics=host:port" on a second when the metrics listener is on. Whoever starts the server
// waits for the file instead of reading the log.
type readyFile struct {
	path string
	info os.FileInfo // the file as written, so that removal leaves a newer one alone
}

// readyFileContent is the file's text. Addresses are host:port as net.JoinHostPort spells
// them (IPv6 in brackets), which is how net.TCPAddr.String gives them.
func readyFileContent(grpcAddr, metricsAddr string) string {
	var b strings.Builder
	b.WriteString(grpcAddr + "\n")
	if metricsAddr != "" {
		b.WriteString("metrics=" + metricsAddr + "\n")
	}
	return b.String()
}

// writeReadyFile writes content to path atomically: a temporary file in the same directory,
// then a rename over path, so that a reader sees no file or the whole file (and a file left
// by an earlier run is replaced whole).
func writeReadyFile(path, content string) (*readyFile, error) {
	fail := func(err error) (*readyFile, error) {
		return nil, fmt.Errorf("cannot write the ready file %s (--ready-file): %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fail(errors.New("it is a directory"))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fail(err)
	}
	_, err = tmp.WriteString(content)
	if err == nil {
		err = tmp.Chmod(0o644) // an address is no secret; a supervisor of another user may read it
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fail(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return fail(err)
	}
	return &readyFile{path: path, info: info}, nil
}

// remove deletes the file, unless it is gone or is no longer the one written (another
// process replaced it). Safe on a nil *readyFile (no --ready-file).
func (r *readyFile) remove() error {
	if r == nil {
		return nil
	}
	now, err := os.Stat(r.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !os.SameFile(now, r.info) {
		return nil
	}
	if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
