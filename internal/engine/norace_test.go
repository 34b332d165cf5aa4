//go:build !race

package engine_test

// raceDetector is true under -race (see engine_race_test.go).
const raceDetector = false
