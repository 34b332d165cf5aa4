//go:build !race

package client_test

// raceDetector is true under -race (see engine_race_test.go).
const raceDetector = false
