//go:build race

package engine_test

// raceDetector is true under -race, which slows the interpreter by an order of magnitude:
// the million-key test then fills the engine through the command shim directly.
const raceDetector = true
