// Package boundstest holds the tests that prove the policy package's load-time bounds
// sufficient by running the accepted extreme policies through the embedded engine. It is
// a package of its own so that the policy package's tests, and its fuzz target, do not
// link the engine and the clients.
package boundstest
