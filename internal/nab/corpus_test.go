package nab

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReadSeries(t *testing.T) {
	s, err := ReadSeries(strings.NewReader("timestamp,value,anomaly_score\n2014-04-01 00:00:00,1.5,0.25\n2014-04-01 00:05:00,2,1\n"), "a/b.csv")
	require.NoError(t, err)
	require.Equal(t, []float64{1.5, 2}, s.Values)
	require.Equal(t, []float64{0.25, 1}, s.Scores)
	require.Equal(t, "2014-04-01 00:05:00", s.Raw[1])
	for _, bad := range []string{"", "time,value\n", "timestamp,value\nx,1\n", "timestamp,value\n2014-04-01 00:00:00,abc\n"} {
		_, err := ReadSeries(strings.NewReader(bad), "bad.csv")
		require.Error(t, err, bad)
	}
}

func FuzzReadSeries(f *testing.F) {
	f.Add("timestamp,value\n2014-04-01 00:00:00,1\n")
	f.Add("timestamp,value,anomaly_score\n2014-04-01 00:00:00.000000,1e9,0.5\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ReadSeries(strings.NewReader(in), "f.csv")
		if err == nil {
			require.Len(t, s.Timestamps, len(s.Values))
		}
	})
}
