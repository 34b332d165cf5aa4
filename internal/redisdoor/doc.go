// Package redisdoor is the Redis door: the decision scripts run by EVALSHA in a Redis a fleet
// shares (one node, TLS, Cluster, Sentinel) through go-redis, concurrent calls pipelined;
// started calls of a plain-TCP node travel on a stream of their own (package stream). Its
// Backend is a front.Door.
package redisdoor
