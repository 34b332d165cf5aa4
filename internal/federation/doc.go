// Package federation serves federated policies (two-tier.md §6): one budget of `limit` units
// per epoch-aligned window, kept by a coordinator in Redis (the LEASE and RECONCILE scripts,
// one HASH per lease key) and leased in batches. Tier1 is a process's own share of it (§6.2,
// a twotier.Federation); Reserve hands budget to library clients (§6.3); LeaseSpender spends
// what a client reserved (§5.1).
package federation
