//go:build race

package temporal

// raceEnabled: corpus-wide runs are cut down under the race detector to keep the suite fast.
const raceEnabled = true
