package rediscluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/keyslot"
)

// NodeTimeout is the clusters' cluster-node-timeout: a master unreachable this long is
// suspected, and failed over soon after.
const NodeTimeout = 1000 * time.Millisecond

// Cluster is a running Redis Cluster.
type Cluster struct {
	g     *group
	Nodes []*Server
}

// StartCluster starts masters*(1+replicas) cluster nodes, joins them with `redis-cli
// --cluster create --cluster-replicas replicas`, and waits until every node reports
// cluster_state:ok, all agree on who serves every slot, and every replica is in sync.
func StartCluster(tb testing.TB, masters, replicas int) *Cluster {
	tb.Helper()
	return StartClusterWith(tb, masters, replicas, Options{})
}

// StartClusterWith is StartCluster with a password, TLS or both (Options).
func StartClusterWith(tb testing.TB, masters, replicas int, opts Options) *Cluster {
	tb.Helper()
	c := &Cluster{g: newGroup(tb, opts)}
	for i := 0; i < masters*(1+replicas); i++ {
		c.Nodes = append(c.Nodes, c.g.start("node", true, func(port int, dir string) []string {
			return []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", dir + "/nodes.conf",
				"--cluster-node-timeout", strconv.Itoa(int(NodeTimeout / time.Millisecond)),
				// A replica may always take over, however long its master was gone.
				"--cluster-replica-validity-factor", "0",
			}
		}, nil))
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := c.g.cli(ctx, args...); err != nil {
		tb.Fatalf("rediscluster: %v\n%s", err, out)
	}
	c.WaitHealthy(tb, 20*time.Second)
	return c
}

// URL is the redis+cluster:// URL naming every node as a seed (rediss+cluster:// with TLS),
// with the password when there is one.
func (c *Cluster) URL() string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return c.g.url("redis+cluster", addrs, "")
}

// CAFile is the PEM file of the CA to trust for the nodes' TLS ("" without TLS).
func (c *Cluster) CAFile() string { return c.g.CAFile() }

// NodeInfo is one line of CLUSTER NODES.
type NodeInfo struct {
	ID, Addr, MasterID string
	Master, Myself     bool
	Failed             bool // fail or fail? flags
	Slots              [][2]int
}

// Nodes parses CLUSTER NODES as the server s sees it.
func (s *Server) Nodes(ctx context.Context) ([]NodeInfo, error) {
	text, err := s.Client().ClusterNodes(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("%s: CLUSTER NODES: %w", s.Addr, err)
	}
	var out []NodeInfo
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		n := NodeInfo{ID: f[0], Addr: addr, MasterID: f[3]}
		for _, flag := range strings.Split(f[2], ",") {
			switch flag {
			case "master":
				n.Master = true
			case "myself":
				n.Myself = true
			case "fail", "fail?":
				n.Failed = true
			}
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue // a slot being migrated or imported
			}
			lo, hi, isRange := strings.Cut(r, "-")
			a, _ := strconv.Atoi(lo)
			b := a
			if isRange {
				b, _ = strconv.Atoi(hi)
			}
			n.Slots = append(n.Slots, [2]int{a, b})
		}
		out = append(out, n)
	}
	return out, nil
}

// ID is the node's cluster id.
func (s *Server) ID(ctx context.Context) (string, error) {
	return s.Client().Do(ctx, "cluster", "myid").Text()
}

// Alive returns the nodes whose process still runs.
func (c *Cluster) Alive() []*Server {
	var out []*Server
	for _, n := range c.Nodes {
		if n.Alive() {
			out = append(out, n)
		}
	}
	return out
}

// ByAddr returns the node listening on addr, or nil.
func (c *Cluster) ByAddr(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// owners maps every slot to the address of the master serving it, as node s sees it.
func (s *Server) owners(ctx context.Context) ([]string, error) {
	nodes, err := s.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	owner := make([]string, 16384)
	for _, n := range nodes {
		if !n.Master || n.Failed {
			continue
		}
		for _, r := range n.Slots {
			for slot := r[0]; slot <= r[1]; slot++ {
				owner[slot] = n.Addr
			}
		}
	}
	for slot, a := range owner {
		if a == "" {
			return nil, fmt.Errorf("%s: slot %d has no healthy master", s.Addr, slot)
		}
	}
	return owner, nil
}

// checkHealthy returns nil when every live node says cluster_state:ok, all see the same owner
// for every slot, each owner is a live master by its own account, and every live replica's
// link to its master is up.
func (c *Cluster) checkHealthy(ctx context.Context) error {
	var ref []string
	var refAddr string
	for _, n := range c.Alive() {
		info, err := n.Client().ClusterInfo(ctx).Result()
		if err != nil {
			return fmt.Errorf("%s: %w", n.Addr, err)
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster_state is not ok", n.Addr)
		}
		owner, err := n.owners(ctx)
		if err != nil {
			return err
		}
		if ref == nil {
			ref, refAddr = owner, n.Addr
		} else {
			for slot := range owner {
				if owner[slot] != ref[slot] {
					return fmt.Errorf("slot %d: %s says %s, %s says %s", slot, n.Addr, owner[slot], refAddr, ref[slot])
				}
			}
		}
		role, err := n.Role(ctx)
		if err != nil {
			return err
		}
		if role == "slave" {
			if err := n.replicaLinkUp(ctx); err != nil {
				return err
			}
		}
	}
	seen := map[string]bool{}
	for _, a := range ref {
		if seen[a] {
			continue
		}
		seen[a] = true
		n := c.ByAddr(a)
		if n == nil || !n.Alive() {
			return fmt.Errorf("slot owner %s is not a live node", a)
		}
		if role, err := n.Role(ctx); err != nil || role != "master" {
			return fmt.Errorf("slot owner %s says role %q (%v)", a, role, err)
		}
	}
	return nil
}

// WaitHealthy waits until checkHealthy holds (see there), failing the test after timeout.
func (c *Cluster) WaitHealthy(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	waitFor(tb, timeout, "cluster healthy", c.checkHealthy)
}

// Owners maps every slot to the live master serving it, as the first live node sees it.
func (c *Cluster) Owners(tb testing.TB) []*Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	owner, err := c.Alive()[0].owners(ctx)
	if err != nil {
		tb.Fatalf("rediscluster: %v", err)
	}
	out := make([]*Server, len(owner))
	for slot, a := range owner {
		out[slot] = c.ByAddr(a)
	}
	return out
}

// Owner returns the live master serving slot, as the first live node sees it.
func (c *Cluster) Owner(tb testing.TB, slot int) *Server {
	tb.Helper()
	return c.Owners(tb)[slot]
}

// Masters returns the live masters serving slots, in slot order.
func (c *Cluster) Masters(tb testing.TB) []*Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	owner, err := c.Alive()[0].owners(ctx)
	if err != nil {
		tb.Fatalf("rediscluster: %v", err)
	}
	var out []*Server
	for i, a := range owner {
		if i == 0 || a != owner[i-1] {
			if n := c.ByAddr(a); n != nil && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// SlotsOf returns the slots master serves, ascending.
func (c *Cluster) SlotsOf(tb testing.TB, master *Server) []int {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	owner, err := master.owners(ctx)
	if err != nil {
		tb.Fatalf("rediscluster: %v", err)
	}
	var out []int
	for slot, a := range owner {
		if a == master.Addr {
			out = append(out, slot)
		}
	}
	return out
}

// ReplicaOf returns a live replica of master, or nil if master lists none within 5 s: a
// replica whose own link is up (what WaitHealthy checks) can take a moment more to appear in
// its master's CLUSTER NODES (CI once saw "no replica" right after a healthy start).
func (c *Cluster) ReplicaOf(tb testing.TB, master *Server) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id, err := master.ID(ctx)
	if err != nil {
		tb.Fatalf("rediscluster: %v", err)
	}
	for {
		nodes, err := master.Nodes(ctx)
		if err != nil {
			tb.Fatalf("rediscluster: %v", err)
		}
		for _, n := range nodes {
			if !n.Master && n.MasterID == id && !n.Failed {
				if s := c.ByAddr(n.Addr); s != nil && s.Alive() {
					return s
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Reshard moves n slots from one master to another with `redis-cli --cluster reshard`
// (redis-cli picks the source's lowest slots), then waits until the cluster is healthy.
func (c *Cluster) Reshard(tb testing.TB, from, to *Server, n int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fromID, err := from.ID(ctx)
	if err != nil {
		tb.Fatalf("rediscluster: %v", err)
	}
	toID, err := to.ID(ctx)
	if err != nil {
		tb.Fatalf("rediscluster: %v", err)
	}
	if out, err := c.g.cli(ctx, "--cluster", "reshard", from.Addr, "--cluster-from", fromID,
		"--cluster-to", toID, "--cluster-slots", strconv.Itoa(n), "--cluster-yes"); err != nil {
		tb.Fatalf("rediscluster: %v\n%s", err, out)
	}
	c.WaitHealthy(tb, 20*time.Second)
}

// Migration moves one slot by hand, step by step, so that a test can run traffic while the
// slot is half moved (the source answers ASK for the keys it no longer holds).
type Migration struct {
	c          *Cluster
	slot       int
	from, to   *Server
	fromID, id string
}

// BeginMigration marks slot importing on to and migrating on from.
func (c *Cluster) BeginMigration(tb testing.TB, slot int, from, to *Server) *Migration {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m := &Migration{c: c, slot: slot, from: from, to: to}
	var err error
	if m.fromID, err = from.ID(ctx); err != nil {
		tb.Fatalf("rediscluster: %v", err)
	}
	if m.id, err = to.ID(ctx); err != nil {
		tb.Fatalf("rediscluster: %v", err)
	}
	if err := to.Client().Do(ctx, "cluster", "setslot", slot, "importing", m.fromID).Err(); err != nil {
		tb.Fatalf("rediscluster: importing: %v", err)
	}
	if err := from.Client().Do(ctx, "cluster", "setslot", slot, "migrating", m.id).Err(); err != nil {
		tb.Fatalf("rediscluster: migrating: %v", err)
	}
	return m
}

// MoveKeys migrates the given keys (all in the slot) that the source still holds.
func (m *Migration) MoveKeys(tb testing.TB, keys ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	args := []any{"migrate", "127.0.0.1", m.to.Port, "", 0, 5000}
	if pw := m.c.g.opts.Password; pw != "" {
		args = append(args, "auth", pw)
	}
	args = append(args, "keys")
	for _, k := range keys {
		args = append(args, k)
	}
	// NOKEY when none of them is on the source any more.
	if err := m.from.Client().Do(ctx, args...).Err(); err != nil && !strings.Contains(err.Error(), "NOKEY") {
		tb.Fatalf("rediscluster: MIGRATE: %v", err)
	}
}

// Finish moves the keys left in the slot, assigns the slot to the target on every master,
// and waits until the cluster is healthy.
func (m *Migration) Finish(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		keys, err := m.from.Client().ClusterGetKeysInSlot(ctx, m.slot, 100).Result()
		if err != nil {
			tb.Fatalf("rediscluster: GETKEYSINSLOT: %v", err)
		}
		if len(keys) == 0 {
			break
		}
		m.MoveKeys(tb, keys...)
	}
	// The target first, then the source, then everyone else: the order redis-cli uses.
	order := []*Server{m.to, m.from}
	for _, n := range m.c.Masters(tb) {
		if n != m.to && n != m.from {
			order = append(order, n)
		}
	}
	for _, n := range order {
		if err := n.Client().Do(ctx, "cluster", "setslot", m.slot, "node", m.id).Err(); err != nil {
			tb.Fatalf("rediscluster: SETSLOT NODE on %s: %v", n.Addr, err)
		}
	}
	m.c.WaitHealthy(tb, 20*time.Second)
}

// Slot is the cluster hash slot of key (see keyslot.Of).
func Slot(key string) int { return keyslot.Of(key) }
