//go:build race

package iforest

// raceEnabled: the race detector slows scoring ~20x, so tests trim their largest inputs.
const raceEnabled = true
