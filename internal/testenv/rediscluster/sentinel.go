package rediscluster

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DownAfter is the sentinels' down-after-milliseconds: a master silent this long is
// subjectively down.
const DownAfter = 1000 * time.Millisecond

// Sentinel is a running Sentinel set: one master, its replicas, and sentinels monitoring the
// master under Name with a quorum of 2.
type Sentinel struct {
	g         *group
	Name      string
	Data      []*Server // the master first, then its replicas
	Sentinels []*Server
}

// StartSentinel starts a master, replicas replicas of it and sentinels sentinels, and waits
// until the replicas are in sync and every sentinel knows every replica and every other
// sentinel.
func StartSentinel(tb testing.TB, name string, replicas, sentinels int) *Sentinel {
	tb.Helper()
	return StartSentinelWith(tb, name, replicas, sentinels, Options{})
}

// StartSentinelWith is StartSentinel with a password on the data servers, TLS everywhere, or
// both (Options).
func StartSentinelWith(tb testing.TB, name string, replicas, sentinels int, opts Options) *Sentinel {
	tb.Helper()
	s := &Sentinel{g: newGroup(tb, opts), Name: name}
	master := s.g.start("master", false, func(int, string) []string { return nil }, nil)
	s.Data = append(s.Data, master)
	for i := 0; i < replicas; i++ {
		s.Data = append(s.Data, s.g.start("replica", false, func(int, string) []string {
			return []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port)}
		}, nil))
	}
	for i := 0; i < sentinels; i++ {
		s.Sentinels = append(s.Sentinels, s.g.start("sentinel", false, nil, func(port int, dir string) string {
			lines := []string{"port " + strconv.Itoa(port)}
			if s.g.pki != nil {
				lines = s.g.pki.sentinelConf(port)
			}
			lines = append(lines,
				"bind 127.0.0.1",
				"dir "+dir,
				"logfile "+dir+"/redis.log",
				fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", name, master.Port),
				fmt.Sprintf("sentinel down-after-milliseconds %s %d", name, DownAfter/time.Millisecond),
				fmt.Sprintf("sentinel failover-timeout %s 3000", name),
				fmt.Sprintf("sentinel parallel-syncs %s 1", name))
			if opts.Password != "" {
				// After the monitor line, which it refers to; quoted, as sentinel.conf splits
				// arguments the way redis.conf does.
				lines = append(lines, fmt.Sprintf("sentinel auth-pass %s %q", name, opts.Password))
			}
			return strings.Join(lines, "\n") + "\n"
		}))
	}
	s.WaitReady(tb, master, 30*time.Second)
	return s
}

// URL is the redis+sentinel:// URL naming every sentinel.
func (s *Sentinel) URL() string {
	addrs := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		addrs[i] = n.Addr
	}
	return s.g.url("redis+sentinel", addrs, s.Name)
}

// CAFile is the PEM file of the CA to trust for the servers' TLS ("" without TLS).
func (s *Sentinel) CAFile() string { return s.g.CAFile() }

// ByAddr returns the data server listening on addr, or nil.
func (s *Sentinel) ByAddr(addr string) *Server {
	for _, n := range s.Data {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// masterState is what one sentinel says of the monitored master.
func (s *Sentinel) masterState(ctx context.Context, sentinel *Server) (map[string]string, error) {
	raw, err := sentinel.Client().Do(ctx, "sentinel", "master", s.Name).Slice()
	if err != nil {
		return nil, fmt.Errorf("sentinel %s: %w", sentinel.Addr, err)
	}
	m := map[string]string{}
	for i := 0; i+1 < len(raw); i += 2 {
		m[fmt.Sprint(raw[i])] = fmt.Sprint(raw[i+1])
	}
	return m, nil
}

// checkReady returns nil when every sentinel names master as the master, with no down or
// failover flag, sees all the other live replicas and sentinels, and those replicas' links
// are up.
func (s *Sentinel) checkReady(ctx context.Context, master *Server) error {
	var replicas []*Server
	for _, n := range s.Data {
		if n != master && n.Alive() {
			replicas = append(replicas, n)
			if err := n.replicaLinkUp(ctx); err != nil {
				return err
			}
		}
	}
	if role, err := master.Role(ctx); err != nil || role != "master" {
		return fmt.Errorf("%s: role %q (%v)", master.Addr, role, err)
	}
	for _, sn := range s.Sentinels {
		st, err := s.masterState(ctx, sn)
		if err != nil {
			return err
		}
		addr := net.JoinHostPort(st["ip"], st["port"])
		switch {
		case addr != master.Addr:
			return fmt.Errorf("sentinel %s names %s as the master, not %s", sn.Addr, addr, master.Addr)
		case st["flags"] != "master":
			return fmt.Errorf("sentinel %s: master flags %q", sn.Addr, st["flags"])
		case st["num-other-sentinels"] != strconv.Itoa(len(s.Sentinels)-1):
			return fmt.Errorf("sentinel %s knows %s other sentinels", sn.Addr, st["num-other-sentinels"])
		}
		// num-slaves also counts replicas that are gone (a killed old master): count the
		// live ones the sentinel reports without a down flag.
		list, err := sn.Client().Do(ctx, "sentinel", "replicas", s.Name).Slice()
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", sn.Addr, err)
		}
		ok := 0
		for _, r := range list {
			fields, _ := r.([]any)
			m := map[string]string{}
			for i := 0; i+1 < len(fields); i += 2 {
				m[fmt.Sprint(fields[i])] = fmt.Sprint(fields[i+1])
			}
			// Only flags: a sentinel refreshes the rest of what it knows of a replica every
			// 10 s (every second once the master is down, before it picks one to promote).
			if m["flags"] == "slave" {
				ok++
			}
		}
		if ok != len(replicas) {
			return fmt.Errorf("sentinel %s sees %d healthy replicas, want %d", sn.Addr, ok, len(replicas))
		}
	}
	return nil
}

// WaitReady waits until checkReady holds for master.
func (s *Sentinel) WaitReady(tb testing.TB, master *Server, timeout time.Duration) {
	tb.Helper()
	waitFor(tb, timeout, "sentinel set ready", func(ctx context.Context) error { return s.checkReady(ctx, master) })
}

// WaitNewMaster waits until every sentinel names a live data server other than old as the
// master, and that server says it is one; it returns it.
func (s *Sentinel) WaitNewMaster(tb testing.TB, old *Server, timeout time.Duration) *Server {
	tb.Helper()
	var found *Server
	waitFor(tb, timeout, "sentinel failover", func(ctx context.Context) error {
		found = nil
		for _, sn := range s.Sentinels {
			addr, err := sn.Client().Do(ctx, "sentinel", "get-master-addr-by-name", s.Name).StringSlice()
			if err != nil || len(addr) != 2 {
				return fmt.Errorf("sentinel %s: %v %v", sn.Addr, addr, err)
			}
			n := s.ByAddr(net.JoinHostPort(addr[0], addr[1]))
			if n == nil || n == old || !n.Alive() {
				return fmt.Errorf("sentinel %s names %s:%s", sn.Addr, addr[0], addr[1])
			}
			if found != nil && found != n {
				return fmt.Errorf("sentinels disagree: %s and %s", found.Addr, n.Addr)
			}
			found = n
		}
		if role, err := found.Role(ctx); err != nil || role != "master" {
			return fmt.Errorf("%s: role %q (%v)", found.Addr, role, err)
		}
		return nil
	})
	return found
}
