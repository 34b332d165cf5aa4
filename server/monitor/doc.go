// Package monitor keeps the live picture of a server's traffic that the Monitor service
// (wire-contract.md, "The Monitor service") reports: per-policy counters over a sliding
// analytics window, bounded top-denied and top-requested key lists, a recent-latency summary,
// a fixed ring of recent denials, and live denial streams for watchers.
//
// The window is Window (60 s) long: the counters sum one-second slots (the current second
// and the 59 before it), the top lists ten-second segments (the current one and the five
// before it). Recording costs a check a hash, one short critical section on one of a few
// shards (chosen by key) and a few atomic operations; every structure is fixed in size, so
// neither a flood of distinct keys nor a slow watcher grows memory or slows decisions.
package monitor
