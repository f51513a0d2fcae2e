package bus

import (
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"
)

func TestPackUnpack(t *testing.T) {
	in := []Record{
		{Payload: []byte(`{"id":"a","host":"h1"}`), Metadata: map[string]string{"amoskys_type": "telemetry", "k": ""}},
		{Payload: []byte{}, Metadata: nil},
		{Payload: []byte("not json \x00\xff"), Metadata: map[string]string{"x": "y"}},
	}
	m := Pack(in)
	require.Equal(t, "3", m.Metadata.Get(MetaBatch))
	out, err := Unpack(m)
	require.NoError(t, err)
	require.Len(t, out, 3)
	for i := range in {
		require.Equal(t, string(in[i].Payload), string(out[i].Payload))
		require.Equal(t, len(in[i].Metadata), len(out[i].Metadata))
		for k, v := range in[i].Metadata {
			require.Equal(t, v, out[i].Metadata[k])
		}
	}
	// Same records pack to the same bytes.
	require.Equal(t, m.Payload, Pack(in).Payload)
}

func TestUnpackPlainMessage(t *testing.T) {
	m := message.NewMessage("u1", []byte(`{"a":1}`))
	m.Metadata.Set("amoskys_type", "alert")
	out, err := Unpack(m)
	require.NoError(t, err)
	require.Equal(t, []Record{{Payload: []byte(`{"a":1}`), Metadata: map[string]string{"amoskys_type": "alert"}}}, out)
}

func TestUnpackBad(t *testing.T) {
	good := Pack([]Record{{Payload: []byte("hello"), Metadata: map[string]string{"a": "b"}}})
	for name, mut := range map[string]func(m *message.Message){
		"count":     func(m *message.Message) { m.Metadata.Set(MetaBatch, "x") },
		"more":      func(m *message.Message) { m.Metadata.Set(MetaBatch, "2") },
		"huge":      func(m *message.Message) { m.Metadata.Set(MetaBatch, "1000000000") },
		"version":   func(m *message.Message) { m.Payload[0] = 9 },
		"truncated": func(m *message.Message) { m.Payload = m.Payload[:len(m.Payload)-2] },
		"trailing":  func(m *message.Message) { m.Payload = append(m.Payload, 1) },
		"empty":     func(m *message.Message) { m.Payload = nil },
	} {
		t.Run(name, func(t *testing.T) {
			m := good.Copy()
			m.Payload = append([]byte(nil), good.Payload...)
			mut(m)
			_, err := Unpack(m)
			require.True(t, errors.Is(err, ErrBadFrame), "err = %v", err)
		})
	}
}

func FuzzUnpack(f *testing.F) {
	f.Add([]byte(Pack([]Record{{Payload: []byte("x"), Metadata: map[string]string{"a": "b"}}}).Payload), 1)
	f.Add([]byte{1, 0, 0}, 1)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		recs, err := unpackPayload(b, n)
		if err != nil {
			return
		}
		// Whatever decodes holds exactly the records it announced.
		require.Len(t, recs, n)
	})
}

func TestPartition(t *testing.T) {
	require.Equal(t, 0, PartitionOf("any", 1))
	p := PartitionOf("host-a", 8)
	require.Equal(t, p, PartitionOf("host-a", 8))
	require.Equal(t, "telemetry", PartitionTopic("telemetry", 0, 1))
	require.Equal(t, "telemetry_p3", PartitionTopic("telemetry", 3, 4))
	got, err := WorkerTopics("t", 4, 2, 1)
	require.NoError(t, err)
	require.Equal(t, []string{"t_p1", "t_p3"}, got)
	_, err = WorkerTopics("t", 2, 3, 0)
	require.Error(t, err)
	_, err = WorkerTopics("t", 2, 2, 2)
	require.Error(t, err)
}

func TestSplitOptions(t *testing.T) {
	s, o, err := splitOptions("postgres://u:p@h/db?sslmode=verify-full&poll_interval=10ms&batch_size=7&ack_deadline=0s", Options{})
	require.NoError(t, err)
	require.Equal(t, "postgres://u:p@h/db?sslmode=verify-full", s)
	require.Equal(t, 7, o.BatchSize)
	require.Equal(t, "10ms", o.PollInterval.String())
	_, _, err = splitOptions("x?poll_interval=fast", Options{})
	require.Error(t, err)
	s, o, err = splitOptions("./bus.db?retention=168h", Options{Retention: DefaultRetention})
	require.NoError(t, err)
	require.Equal(t, "./bus.db", s)
	require.Equal(t, 168*time.Hour, o.Retention)
	_, o, err = splitOptions("./bus.db?retention=0s", Options{Retention: DefaultRetention})
	require.NoError(t, err)
	require.Zero(t, o.Retention, "0s keeps everything")
	_, _, err = splitOptions("./bus.db?retention=-1h", Options{})
	require.ErrorContains(t, err, "retention")
	require.Equal(t, "postgres://u:xxxxx@h/db", redact("postgres://u:secret@h/db"))
}
