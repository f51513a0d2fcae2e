package bus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Metadata keys of a packed Watermill message.
const (
	MetaBatch = "amoskys_batch" // number of records packed in the payload
	MetaCount = "amoskys_count" // number of events it carries (lag is counted in these)
)

// frameVersion is the first byte of a packed payload.
const frameVersion = 1

// ErrBadFrame says a packed payload could not be read.
var ErrBadFrame = errors.New("bad packed bus message")

// Record is one message inside a packed bus message.
type Record struct {
	Payload  []byte
	Metadata map[string]string
}

// Pack makes one Watermill message carrying records. Layout: version byte, then per record
// uvarint(number of metadata pairs), each key and value as uvarint(len)+bytes, then
// uvarint(len(payload))+payload. Metadata keys are written sorted so a batch packs to the same bytes.
func Pack(records []Record) *message.Message {
	size := 1
	for _, r := range records {
		size += 2*binary.MaxVarintLen64 + len(r.Payload)
		for k, v := range r.Metadata {
			size += 2*binary.MaxVarintLen64 + len(k) + len(v)
		}
	}
	buf := make([]byte, 0, size)
	buf = append(buf, frameVersion)
	keys := make([]string, 0, 8)
	for _, r := range records {
		keys = keys[:0]
		for k := range r.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf = binary.AppendUvarint(buf, uint64(len(keys)))
		for _, k := range keys {
			buf = appendBytes(buf, k)
			buf = appendBytes(buf, r.Metadata[k])
		}
		buf = appendBytes(buf, string(r.Payload))
	}
	m := message.NewMessage(watermill.NewUUID(), buf)
	n := strconv.Itoa(len(records))
	m.Metadata.Set(MetaBatch, n)
	m.Metadata.Set(MetaCount, n)
	return m
}

func appendBytes(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// Unpack returns the records of msg: those packed by Pack, or msg itself as one record.
func Unpack(msg *message.Message) ([]Record, error) {
	nStr := msg.Metadata.Get(MetaBatch)
	if nStr == "" {
		md := make(map[string]string, len(msg.Metadata))
		for k, v := range msg.Metadata {
			md[k] = v
		}
		return []Record{{Payload: msg.Payload, Metadata: md}}, nil
	}
	n, err := strconv.Atoi(nStr)
	if err != nil || n < 0 {
		return nil, fmt.Errorf("%w: %s=%q", ErrBadFrame, MetaBatch, nStr)
	}
	return unpackPayload(msg.Payload, n)
}

func unpackPayload(b []byte, n int) ([]Record, error) {
	if len(b) == 0 || b[0] != frameVersion {
		return nil, fmt.Errorf("%w: unknown version", ErrBadFrame)
	}
	b = b[1:]
	if n > len(b) { // every record takes at least one byte: refuse absurd counts before allocating
		return nil, fmt.Errorf("%w: %d records in %d bytes", ErrBadFrame, n, len(b))
	}
	out := make([]Record, 0, n)
	for i := 0; i < n; i++ {
		pairs, rest, err := readUvarint(b)
		if err != nil {
			return nil, err
		}
		b = rest
		if pairs > uint64(len(b)) {
			return nil, fmt.Errorf("%w: record %d: %d metadata pairs", ErrBadFrame, i, pairs)
		}
		var md map[string]string
		if pairs > 0 {
			md = make(map[string]string, pairs)
		}
		for j := uint64(0); j < pairs; j++ {
			var k, v []byte
			if k, b, err = readBytes(b); err != nil {
				return nil, err
			}
			if v, b, err = readBytes(b); err != nil {
				return nil, err
			}
			md[string(k)] = string(v)
		}
		var p []byte
		if p, b, err = readBytes(b); err != nil {
			return nil, err
		}
		out = append(out, Record{Payload: p, Metadata: md})
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadFrame, len(b))
	}
	return out, nil
}

func readUvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: truncated length", ErrBadFrame)
	}
	return v, b[n:], nil
}

func readBytes(b []byte) ([]byte, []byte, error) {
	l, b, err := readUvarint(b)
	if err != nil {
		return nil, nil, err
	}
	if l > uint64(len(b)) {
		return nil, nil, fmt.Errorf("%w: field of %d bytes, %d left", ErrBadFrame, l, len(b))
	}
	return b[:l:l], b[l:], nil
}
