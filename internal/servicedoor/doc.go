// Package servicedoor is the service door: calls to throttlekit-server over gRPC
// (throttlekit.v1), concurrent Checks of one policy and cost sent as one CheckMany. Its
// Backend is a front.Door without explicit clocks (the server's clock decides).
package servicedoor
