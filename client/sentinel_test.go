package client_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/throttlekit/throttlekit-go/internal/testenv/rediscluster"
)

// One master, one replica, three sentinels (quorum 2), through redis+sentinel://. First a
// failover the sentinels are told to make (SENTINEL FAILOVER: the old master is demoted and
// follows the new one), then the master killed outright.
func TestSentinelFailover(t *testing.T) {
	s := rediscluster.StartSentinel(t, "m", 1, 3)
	const timeout = 500 * time.Millisecond
	master := s.Data[0]

	for _, variant := range []string{"SentinelFailoverCommand", "KillMaster"} {
		t.Run(variant, func(t *testing.T) {
			b, ns := openURL(t, s.URL(), bigWindowYAML, timeout)
			var replica *rediscluster.Server
			for _, n := range s.Data {
				if n != master && n.Alive() {
					replica = n
				}
			}
			// The promoted replica starts with an empty script cache: NOSCRIPT on the new master.
			if err := replica.Client().ScriptFlush(ctx).Err(); err != nil {
				t.Fatalf("SCRIPT FLUSH: %v", err)
			}
			keys := []string{"s0", "s1", "s2", "s3", "s4", "s5"}
			tr := startTraffic(b, keys, 4, true)
			time.Sleep(500 * time.Millisecond)
			switchStart := time.Now()
			if variant == "KillMaster" {
				master.Kill()
			} else if err := s.Sentinels[0].Client().Do(ctx, "sentinel", "failover", s.Name).Err(); err != nil {
				t.Fatalf("SENTINEL FAILOVER: %v", err)
			}
			promoted := s.WaitNewMaster(t, master, 30*time.Second)
			switchEnd := time.Now()
			if promoted != replica {
				t.Fatalf("promoted %s, want the replica %s", promoted.Addr, replica.Addr)
			}
			time.Sleep(switchGrace + 500*time.Millisecond)
			tr.stop()

			tr.checkSwitch(t, timeout, switchStart, switchEnd, switchGrace)
			lost, unacked := tr.checkAfterFailover(t, b, func(string) *rediscluster.Server { return promoted }, ns)
			t.Logf("%s: %d acknowledged admissions lost by the failover (= admissions it allows beyond the limit); %d applied by calls that failed",
				variant, lost, unacked)
			fmt.Printf("failover figures: sentinel %s: %d calls, %d errors, %d admissions beyond the limit\n",
				variant, tr.calls(), len(tr.errs), lost)
			if variant != "KillMaster" {
				// The sentinels demote the old master at their next look at it, up to 10 s
				// later; an operator's REPLICAOF does the same at once. It then follows the new
				// master, in sync, before the next variant kills that one.
				if err := master.Client().ReplicaOf(ctx, "127.0.0.1", fmt.Sprint(promoted.Port)).Err(); err != nil {
					t.Fatalf("REPLICAOF: %v", err)
				}
				s.WaitReady(t, promoted, 30*time.Second)
			}
			master = promoted
		})
	}
}
